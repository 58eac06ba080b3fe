"""The Python side of `compare --python`: the same workloads in CPython.

Run by `cargo run --release -p benches --bin compare -- --python`, which
passes the sizes and merges these rows into its tables. Each row is one line
on stdout:

    ROW <tab> table <tab> case <tab> kind <tab> approach <tab> seconds-per-unit

where kind is `base` (a baseline or neither), `thread` or `process`.
    NOTE <tab> table <tab> text

Times are the fastest of a few runs. The workloads mirror the Rust ones:
count_primes by trial division (cpu_scaling), blocking sleeps (io_overlap),
start-and-join (spawn), a locked counter (contention), bytes through a
queue, a pipe and shared memory (ipc), tiny tasks through pools with a
chunksize (pool_overhead). Python is far slower per operation, so its sizes
are smaller and named in each case; compare ratios within a case.
"""

import argparse
import contextlib
import multiprocessing as mp
import os
import queue
import subprocess
import sys
import threading
import time
from multiprocessing import shared_memory
from multiprocessing.pool import ThreadPool


def row(table, case, approach, seconds, kind="base"):
    print(f"ROW\t{table}\t{case}\t{kind}\t{approach}\t{seconds:.9e}", flush=True)


def note(table, text):
    print(f"NOTE\t{table}\t{text}", flush=True)


def best_time(reps, fn, per=1):
    """Seconds per unit: the fastest of `reps` runs after one warm-up run
    (other load only ever adds time; `timeit` advises the minimum too)."""
    fn()  # warm up
    times = []
    for _ in range(max(1, reps)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) / per


def rounds(reps, entries, per=1):
    """Times (approach, kind, fn) entries in interleaved rounds, every
    approach once per round after a warm-up round, so that load which comes
    and goes hits them alike; yields (approach, kind, fastest seconds / per)."""
    best = [float("inf")] * len(entries)
    for r in range(max(1, reps) + 1):
        for i, (_, _, fn) in enumerate(entries):
            start = time.perf_counter()
            fn()
            if r > 0:
                best[i] = min(best[i], time.perf_counter() - start)
    for (approach, kind, _), seconds in zip(entries, best):
        yield approach, kind, seconds / per


# ---- the work ---------------------------------------------------------

def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    d = 3
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


def count_primes(bounds):
    lo, hi = bounds
    return sum(1 for n in range(lo, hi) if is_prime(n))


def slices(limit, slice_len):
    return [(lo, min(lo + slice_len, limit)) for lo in range(0, limit, slice_len)]


def tiny(x):
    return x * x


def unit():
    return 1


def sleep_for(seconds):
    time.sleep(seconds)
    return 1


def exit_now():
    os._exit(0)


# ---- spawn ------------------------------------------------------------

def bench_spawn(reps):
    case = "py: one task"

    def thread_once():
        t = threading.Thread(target=unit)
        t.start()
        t.join()

    row("spawn", case, "threading.Thread start+join", best_time(reps * 10, thread_once), kind="thread")
    for method in ("fork", "spawn"):
        ctx = mp.get_context(method)

        def process_once():
            p = ctx.Process(target=unit)
            p.start()
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"{method} child exited {p.exitcode}")

        row("spawn", case, f"Process({method}) start+join",
            best_time(reps if method == "fork" else max(1, reps // 2), process_once), kind="process")

    def true_once():
        subprocess.run(["/bin/true"], check=True)

    row("spawn", case, "subprocess.run /bin/true", best_time(reps, true_once), kind="process")


# ---- cpu_scaling ------------------------------------------------------

def bench_cpu(limit, slice_len, workers, reps):
    parts = slices(limit, slice_len)
    expected = count_primes((0, limit))
    case = f"py: primes < {limit:,}".replace(",", " ")

    def check(fn):
        def run():
            assert sum(fn(count_primes, parts)) == expected
        return run

    with contextlib.ExitStack() as stack:
        entries = [("sequential", "base", check(map))]
        for n in sorted({1, workers}):
            tp = stack.enter_context(ThreadPool(n))
            entries.append((f"threading x{n} (GIL)", "thread", check(tp.map)))
        for method in ("fork", "spawn"):
            pool = stack.enter_context(mp.get_context(method).Pool(workers))
            entries.append((f"Pool({method}) x{workers}", "process", check(pool.map)))
        for approach, kind, seconds in rounds(reps, entries):
            row("cpu_scaling", case, approach, seconds, kind=kind)
        # The GIL in one figure: CPU time over wall time of the threads.
        with ThreadPool(workers) as tp:
            before, start = os.times(), time.perf_counter()
            check(tp.map)()
            wall = time.perf_counter() - start
            after = os.times()
        busy = (after.user - before.user + after.system - before.system) / wall
        note("cpu_scaling", f"py threading x{workers} kept {busy:.2f} of {workers} cores busy "
                            "(CPU time / wall time): the GIL lets one thread compute at a time")


# ---- io_overlap -------------------------------------------------------

def bench_io(waits, wait_s, threads, pool_workers, reps):
    case = f"py: {waits} waits of {wait_s * 1000:g} ms"

    def sequential():
        for _ in range(waits):
            time.sleep(wait_s)

    row("io_overlap", case, "sequential", best_time(reps, sequential))

    with ThreadPool(threads) as tp:
        def threaded():
            assert sum(tp.map(sleep_for, [wait_s] * waits, chunksize=1)) == waits

        row("io_overlap", case, f"threading x{threads}", best_time(reps, threaded), kind="thread")

    with mp.get_context("fork").Pool(pool_workers) as pool:
        def pooled():
            assert sum(pool.map(sleep_for, [wait_s] * waits, chunksize=1)) == waits

        row("io_overlap", case, f"Pool(fork) x{pool_workers}", best_time(reps, pooled), kind="process")


# ---- contention -------------------------------------------------------

def locked_count(threads, per_thread):
    lock = threading.Lock()
    box = [0]

    def work():
        for _ in range(per_thread):
            with lock:
                box[0] += 1

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return box[0]


def value_worker(value, per_thread):
    for _ in range(per_thread):
        with value.get_lock():
            value.value += 1


def bench_contention(per_thread, reps):
    case = f"py: {per_thread:,} increments per worker".replace(",", " ")
    for threads in (1, 2, 4):
        def run():
            assert locked_count(threads, per_thread) == threads * per_thread

        # Time per increment, as in the Rust rows.
        row("contention", case, f"threading.Lock, {threads} thread{'s' if threads > 1 else ''}",
            best_time(reps, run, per=threads * per_thread), kind="thread")

    ctx = mp.get_context("fork")

    def processes():
        value = ctx.Value("q", 0)
        ps = [ctx.Process(target=value_worker, args=(value, per_thread // 4)) for _ in range(2)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        assert value.value == 2 * (per_thread // 4)

    row("contention", case, "mp.Value + lock, 2 processes",
        best_time(max(1, reps // 2), processes, per=2 * (per_thread // 4)), kind="process")


# ---- ipc --------------------------------------------------------------

def pipe_echo(conn, count):
    for _ in range(count):
        conn.send_bytes(conn.recv_bytes())
    conn.close()


def pipe_sink(conn, count, size):
    total = 0
    for _ in range(count):
        total += len(conn.recv_bytes())
    conn.send(total)
    conn.close()


def shm_sink(name, size, count, full, empty, done):
    shm = shared_memory.SharedMemory(name=name)
    total = 0
    try:
        for i in range(count):
            full.acquire()
            slot = i % 2
            total += len(bytes(shm.buf[slot * size:(slot + 1) * size]))
            empty.release()
        done.put(total)
    finally:
        shm.close()


def bench_ipc(round_trips, stream_count, stream_size, reps):
    ctx = mp.get_context("fork")
    small = b"x" * 64
    case = "py: 64 B round trip"

    def thread_rt():
        a, b = queue.Queue(), queue.Queue()

        def echo():
            for _ in range(round_trips):
                b.put(a.get())

        t = threading.Thread(target=echo)
        t.start()
        for _ in range(round_trips):
            a.put(small)
            assert b.get() == small
        t.join()

    row("ipc", case, "queue.Queue (thread)", best_time(reps, thread_rt, per=round_trips), kind="thread")

    def pipe_rt():
        mine, theirs = ctx.Pipe()
        p = ctx.Process(target=pipe_echo, args=(theirs, round_trips))
        p.start()
        start = time.perf_counter()
        for _ in range(round_trips):
            mine.send_bytes(small)
            assert mine.recv_bytes() == small
        elapsed = time.perf_counter() - start
        p.join()
        return elapsed

    row("ipc", case, "multiprocessing.Pipe (process)",
        min(pipe_rt() for _ in range(reps)) / round_trips, kind="process")

    kib = stream_size // 1024
    case = f"py: {kib} KiB stream"
    payload = b"y" * stream_size

    def thread_stream():
        q = queue.Queue(maxsize=16)
        got = []

        def sink():
            got.append(sum(len(q.get()) for _ in range(stream_count)))

        t = threading.Thread(target=sink)
        t.start()
        for _ in range(stream_count):
            q.put(bytes(payload))  # a fresh message each time, as in Rust
        t.join()
        assert got[0] == stream_count * stream_size

    row("ipc", case, "queue.Queue (thread)", best_time(reps, thread_stream, per=stream_count), kind="thread")

    def pipe_stream():
        mine, theirs = ctx.Pipe()
        p = ctx.Process(target=pipe_sink, args=(theirs, stream_count, stream_size))
        p.start()
        start = time.perf_counter()
        for _ in range(stream_count):
            mine.send_bytes(payload)
        assert mine.recv() == stream_count * stream_size
        elapsed = time.perf_counter() - start
        p.join()
        return elapsed

    row("ipc", case, "multiprocessing.Pipe (process)",
        min(pipe_stream() for _ in range(reps)) / stream_count, kind="process")

    def shm_stream():
        shm = shared_memory.SharedMemory(create=True, size=2 * stream_size)
        try:
            full, empty, done = ctx.Semaphore(0), ctx.Semaphore(2), ctx.SimpleQueue()
            p = ctx.Process(target=shm_sink,
                            args=(shm.name, stream_size, stream_count, full, empty, done))
            p.start()
            start = time.perf_counter()
            for i in range(stream_count):
                empty.acquire()
                slot = i % 2
                shm.buf[slot * stream_size:(slot + 1) * stream_size] = payload
                full.release()
            assert done.get() == stream_count * stream_size
            elapsed = time.perf_counter() - start
            p.join()
            return elapsed
        finally:
            shm.close()
            shm.unlink()

    row("ipc", case, "shared_memory, 2 slots + semaphores (process)",
        min(shm_stream() for _ in range(reps)) / stream_count, kind="process")


# ---- pool_overhead ----------------------------------------------------

def bench_pool_overhead(tasks, workers, chunksizes, reps):
    items = list(range(tasks))
    expected = [x * x for x in items]
    with mp.get_context("fork").Pool(workers) as pool, ThreadPool(workers) as tp:
        for chunk in chunksizes:
            case = f"py: chunksize {chunk}"

            def inline():
                assert list(map(tiny, items)) == expected

            row("pool_overhead", case, "map() inline", best_time(reps, inline, per=tasks))

            def threads():
                assert tp.map(tiny, items, chunksize=chunk) == expected

            row("pool_overhead", case, f"ThreadPool x{workers}", best_time(reps, threads, per=tasks), kind="thread")

            def processes():
                assert pool.map(tiny, items, chunksize=chunk) == expected

            row("pool_overhead", case, f"Pool(fork) x{workers}", best_time(reps, processes, per=tasks), kind="process")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", default="")
    a = p.parse_args()
    quick = a.quick
    reps = 1 if quick else 3
    w = a.workers
    todo = [
        ("spawn", lambda: bench_spawn(reps)),
        ("cpu_scaling", lambda: bench_cpu(50_000 if quick else 200_000, 1_000, w, reps)),
        # As many pool processes as waits, as Python code doing I/O in a
        # Pool would use; the Rust pool row does the same.
        ("io_overlap", lambda: bench_io(8 if quick else 16, 0.01 if quick else 0.02,
                                        8 if quick else 16, 8 if quick else 16, reps)),
        ("ipc", lambda: bench_ipc(200 if quick else 2_000, 100 if quick else 1_000, 64 * 1024, reps)),
        ("contention", lambda: bench_contention(5_000 if quick else 50_000, reps)),
        ("pool_overhead", lambda: bench_pool_overhead(1_000 if quick else 5_000, w,
                                                     (1, 64) if quick else (1, 8, 64, 512), reps)),
    ]
    for name, fn in todo:
        if a.only and name not in a.only.split(","):
            continue
        try:
            fn()
        except Exception as e:  # one broken table must not hide the others
            note(name, f"python {name} failed: {type(e).__name__}: {e}")
    print(f"NOTE\tall\tCPython {sys.version.split()[0]}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # compare was interrupted: finally blocks ran
        sys.exit(130)
