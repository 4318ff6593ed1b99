#!/usr/bin/env python3
"""Loads CUDA fat binaries with the CUDA driver on this machine's GPU 0 and says which load and which fail.

Usage:  python3 scripts/cuda-load-probe.py FILE.fatbin...      (needs cupy and an NVIDIA GPU)

Used to see whether ND4J 1.0.0-M2.1's CUDA kernels can run on a given GPU: extract some of the fat
binaries from libnd4jcuda.so's .nv_fatbin section (scripts/cuda-archs.py describes the layout; each starts
with magic 0xBA55ED50), then load them here. cuModuleLoadData picks a cubin of the GPU's major version or
JIT-compiles PTX; with neither it fails with CUDA_ERROR_NO_BINARY_FOR_GPU. Two controls built on the spot
with nvcc (one sm_86 cubin only, as ND4J ships; PTX for compute_80 only) show the rule on the same GPU.
"""
import sys

import cupy


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        cupy.cuda.function.Module().load(data)
        return "loads"
    except cupy.cuda.driver.CUDADriverError as e:
        return f"fails: {e}"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    device = cupy.cuda.Device(0)
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print(f"GPU 0: {props['name'].decode()}, compute capability {device.compute_capability[0]}.{device.compute_capability[1]}, "
          f"driver API {cupy.cuda.driver.get_build_version()}")
    cupy.zeros(1)                                    # creates the context
    print("| fat binary | bytes | result |")
    print("|---|---:|---|")
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            size = len(f.read())
        print(f"| {path} | {size} | {load(path)} |")


if __name__ == "__main__":
    main()
