"""python-opens-rust-shm's child: attach to the segment Rust created, check
the word Rust wrote, write one back, and exit.

argv: NAME (without the leading slash) MODE (naive | fixed) OFFSET GREETING.
MODE naive attaches as the docs show; its resource tracker then unlinks the
segment at exit although this process did not create it (gh-82300). MODE
fixed stops that: track=False from 3.13, resource_tracker.unregister before.
Prints "read 0x.. wrote 0x.. via WHAT".
"""
import struct
import sys
from multiprocessing import resource_tracker, shared_memory

name, mode, offset, greeting = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "naive":
    shm, via = shared_memory.SharedMemory(name=name), "SharedMemory(name=...)"
elif sys.version_info >= (3, 13):
    shm, via = shared_memory.SharedMemory(name=name, track=False), "track=False"
else:
    shm = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(shm._name, "shared_memory")
    via = "resource_tracker.unregister"
try:
    (seen,) = struct.unpack_from("<Q", shm.buf, offset)
    if seen != greeting:
        raise SystemExit(f"read {seen:#x} at byte {offset}, expected {greeting:#x}")
    struct.pack_into("<Q", shm.buf, offset + 8, seen + 1)
    print(f"read {seen:#x} wrote {seen + 1:#x} via {via}")
finally:
    shm.close()
