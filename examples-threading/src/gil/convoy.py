"""The convoy shape of gil-convoy and real-convoy, for real CPython.

One I/O thread sleeps until its next deadline (every `period` seconds),
`ticks` times, beside `cpu_threads` threads running `spin(stop)`; its
lateness is how long after the deadline it runs Python again (it needs
the GIL back for that). An exception in any thread is raised again.
Run as a script (`python3 convoy.py CPU_THREADS TICKS PERIOD`), it prints
the sorted lateness in seconds, one a line, for pure-Python CPU threads.
"""
import sys
import threading
import time


def spin_python(stop):
    n = 0
    while not stop.is_set():
        for i in range(200):
            n += i * i


def lateness(spin, cpu_threads, ticks, period):
    """Sorted lateness in seconds of each wake-up."""
    stop, errors, late = threading.Event(), [], []

    def guarded():
        try:
            spin(stop)
        except BaseException as e:  # seen by the caller, not lost in the thread
            errors.append(e)
            stop.set()

    pool = [threading.Thread(target=guarded) for _ in range(cpu_threads)]
    for t in pool:
        t.start()
    try:
        time.sleep(0.02)  # the CPU-bound threads are computing
        start = time.perf_counter()
        for k in range(1, ticks + 1):
            deadline = start + k * period
            time.sleep(max(0.0, deadline - time.perf_counter()))
            late.append(time.perf_counter() - deadline)
            if stop.is_set():
                break
    finally:
        stop.set()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
    return sorted(late)


if __name__ == "__main__":
    cpu, ticks, period = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print("\n".join(repr(s) for s in lateness(spin_python, cpu, ticks, period)))
