"""real-convoy's CPU-bound threads, run inside the embedded interpreter by
the shared convoy loop (`cpython_convoy`, examples-threading's
src/gil/convoy.py, loaded first): pure Python, or Rust that releases the GIL.
"""
import cpython_convoy
import rust_primes


def spin_rust(stop):
    lo = 0
    while not stop.is_set():
        rust_primes.count_released(lo, lo + 20_000)  # about 1 ms, GIL released
        lo = (lo + 20_000) % 2_000_000


SPINNERS = {"python": cpython_convoy.spin_python, "released": spin_rust}


def lateness(kind, cpu_threads, ticks, period):
    return cpython_convoy.lateness(SPINNERS[kind], cpu_threads, ticks, period)
