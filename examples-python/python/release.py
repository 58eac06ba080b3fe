"""release-the-gil's measurements, run inside the embedded interpreter.

Each function returns (answer, wall seconds, CPU seconds). An exception in
any thread is raised again in the caller, so Rust sees it.
"""
import multiprocessing
import threading
import time

import rust_primes


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


def count_python(lo, hi):
    return sum(1 for n in range(lo, hi) if is_prime(n))


COUNTERS = {
    "held": rust_primes.count_holding,
    "released": rust_primes.count_released,
    "python": count_python,
}


def slices(limit, pieces):
    step = max(1, -(-limit // pieces))
    return [(lo, min(lo + step, limit)) for lo in range(0, limit, step)]


def on_threads(kind, threads, limit, pieces):
    count = COUNTERS[kind]
    work = slices(limit, pieces)
    totals = [0] * threads
    errors = []

    def worker(i):
        try:
            totals[i] = sum(count(lo, hi) for lo, hi in work[i::threads])
        except BaseException as e:  # seen by the caller, not lost in the thread
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    cpu, start = time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if errors:
        raise errors[0]
    return sum(totals), wall, cpu


def _task(job):
    kind, lo, hi = job
    cpu = time.thread_time()
    n = COUNTERS[kind](lo, hi)
    return n, time.thread_time() - cpu


def in_pool(kind, workers, limit, pieces):
    """The same slices in multiprocessing.Pool (fork), workers already started."""
    work = [(kind, lo, hi) for lo, hi in slices(limit, pieces)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_task, [(kind, 0, 1)] * workers)
        start = time.perf_counter()
        results = pool.map(_task, work, chunksize=1)
        wall = time.perf_counter() - start
    return sum(n for n, _ in results), wall, sum(c for _, c in results)
