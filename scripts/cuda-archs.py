#!/usr/bin/env python3
"""Which GPU architectures a CUDA shared library can run on, read from its embedded fat binaries.

Usage:  scripts/cuda-archs.py LIB.so            (e.g. libnd4jcuda.so, unzipped from
        nd4j-cuda-11.6-1.0.0-M2.1-linux-x86_64.jar: org/nd4j/linalg/jcublas/bindings/linux-x86_64/)

A CUDA library carries its kernels in the ELF section .nv_fatbin as a sequence of fat binaries, each a
list of entries: machine code (an ELF cubin) for one sm_XY, or PTX for one compute_XY. A GPU of compute
capability X.Z runs a cubin built for sm_XY with Y <= Z (same major X), or has the driver compile PTX of
any compute_XY <= X.Z. So a library without PTX runs only on the majors of its cubins. This prints, per
kind and architecture, how many kernels' fat binaries hold it and their bytes. Needs only the standard
library and readelf (binutils). The layout read here: a fat binary starts with magic 0xBA55ED50, a
version (u16), its header size (u16) and its payload size (u64); each entry starts with kind (u16: 1 PTX,
2 ELF), an unused u16, its header size (u32), its payload size (u64), two u32, the PTX ISA version
(u16 minor, u16 major) and the architecture (u32, e.g. 86).
"""
import collections
import mmap
import struct
import subprocess
import sys

FATBIN_MAGIC = 0xBA55ED50
KINDS = {1: "PTX", 2: "cubin"}


def fatbin_section(path):
    """(file offset, size) of .nv_fatbin, from readelf's section table."""
    table = subprocess.check_output(["readelf", "-S", "-W", path], text=True)
    for line in table.splitlines():
        if ".nv_fatbin" in line:
            fields = line.split("]", 1)[1].split()   # name, type, address, offset, size, ...
            return int(fields[3], 16), int(fields[4], 16)
    sys.exit(f"{path}: no .nv_fatbin section: not a CUDA library, or its kernels are elsewhere")


def entries(data, start, end):
    """Yields (kind, arch, bytes) of every entry of every fat binary in data[start:end]."""
    p = start
    while p + 16 <= end:
        magic, _version, header_size, payload_size = struct.unpack_from("<IHHQ", data, p)
        if magic != FATBIN_MAGIC:
            p += 8                                  # fat binaries are 8-byte aligned; skip padding
            continue
        q, fat_end = p + header_size, p + header_size + payload_size
        while q < fat_end:
            kind, _, entry_header, entry_size, _, _, _, _, arch = struct.unpack_from("<HHIQIIHHI", data, q)
            yield KINDS.get(kind, f"kind {kind}"), arch, entry_size
            q += entry_header + entry_size
        p = fat_end


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    offset, size = fatbin_section(path)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        counts, sizes = collections.Counter(), collections.Counter()
        for kind, arch, nbytes in entries(data, offset, offset + size):
            counts[kind, arch] += 1
            sizes[kind, arch] += nbytes
    print(f"{path}: .nv_fatbin {size / 1e6:.0f} MB")
    print("| kind | arch | entries | MB |")
    print("|---|---|---:|---:|")
    for kind, arch in sorted(counts):
        prefix = "compute" if kind == "PTX" else "sm"
        print(f"| {kind} | {prefix}_{arch} | {counts[kind, arch]} | {sizes[kind, arch] / 1e6:.0f} |")
    if not any(kind == "PTX" for kind, _ in counts):
        majors = sorted({arch // 10 for kind, arch in counts if kind == "cubin"})
        print(f"no PTX: runs only on GPUs of compute capability major {', '.join(map(str, majors))}")


if __name__ == "__main__":
    main()
