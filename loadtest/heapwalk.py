#!/usr/bin/env python3
"""What holds a glibc arena's resident pages: walk its chunks in a live process.

    loadtest/heapwalk.py PID HEAP_ADDRESS [--show SIZE ...]

HEAP_ADDRESS is the start of one of the process's thread-arena heaps, an anonymous mapping
aligned to 64 MiB (the large `rw-p` mappings at ...000000 in /proc/PID/maps; `[heap]`, the
main arena, is not handled). Run as root, against a process of glibc 2.36 on x86_64 (the
layout of `heap_info` and `malloc_state` below is that version's). Reads /proc/PID/mem only;
the process is not stopped, so run it when the process is idle (after a churn round).

Prints the live chunks (those whose next chunk says "previous in use"), how many heap pages
they touch, their sizes, and which of them are in a thread's tcache (free, but held by
that thread's cache: glibc's `malloc_trim` cannot hand those pages back either). `--show
SIZE` prints the first bytes of up to 12 live chunks of that chunk size, to tell what they
are (strings show as text). Used for loadtest/README.md, "What holds the pages".
"""
import collections
import struct
import sys

PAGE = 4096
HEAP_INFO = 48  # ar_ptr, prev, size, mprotect_size, pagesize, padding to 16
MALLOC_STATE = 2200  # sizeof(struct malloc_state), glibc 2.36 x86_64


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    pid, base = int(args[0]), int(args[1], 16)
    show = [int(v) for k, v in zip(args[2:], args[3:]) if k == "--show"]
    mem = open(f"/proc/{pid}/mem", "rb")
    mem.seek(base)
    ar_ptr, _prev, size = struct.unpack("<QQQ", mem.read(24))
    first = base + HEAP_INFO + (MALLOC_STATE if ar_ptr == base + HEAP_INFO else 0)
    first = (first + 15) & ~15
    mem.seek(base)
    heap = mem.read(size)

    chunks, p = [], first - base
    while p + 16 <= size:
        csz = struct.unpack_from("<Q", heap, p + 8)[0] & ~7
        if csz < 16 or p + csz > size:
            break
        chunks.append((p, csz))
        p += csz
    live = [
        (off, csz)
        for (off, csz), (nxt, _) in zip(chunks, chunks[1:])
        if struct.unpack_from("<Q", heap, nxt + 8)[0] & 1
    ]
    # A tcache entry is a free chunk whose second word is the process's tcache key: the
    # most common second word among small "live" chunks.
    keys = collections.Counter(heap[o + 24 : o + 32] for o, c in live if c <= 1040)
    key = keys.most_common(1)[0][0] if keys and keys.most_common(1)[0][1] > 8 else None
    cached = [(o, c) for o, c in live if heap[o + 24 : o + 32] == key]
    held = [(o, c) for o, c in live if heap[o + 24 : o + 32] != key]

    def pages(blocks):
        out = set()
        for off, csz in blocks:
            out.update(range((base + off) // PAGE, (base + off + csz - 1) // PAGE + 1))
        return len(out)

    print(f"heap {base:#x}: {size // 1024} KiB, {len(chunks)} chunks walked")
    print(f"live chunks: {len(held)} ({sum(c for _, c in held)} bytes), touching {pages(held)} pages")
    print(f"tcache chunks: {len(cached)}; pages touched by either: {pages(live)}")
    print("live by chunk size:", collections.Counter(c for _, c in held).most_common(20))
    for want in show:
        for off, csz in [x for x in held if x[1] == want][:12]:
            data = heap[off + 16 : off + min(csz, 64)]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in data)
            print(f"  {base + off:#x} {data[:24].hex()} {text}")


if __name__ == "__main__":
    main()
