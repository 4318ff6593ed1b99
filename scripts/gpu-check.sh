#!/usr/bin/env bash
# The one-call GPU check (issue 11): on a machine with an NVIDIA GPU, build peft4j for the CPU and for
# ND4J's CUDA backend, save what the CPU backend computes, then run the same on the GPU, compare, and time
# LoRA steps of the all-MiniLM-L6-v2 shape and a LLaMA-style decoder (d 2048, 16 layers, seq 512, fp32).
# Prints one Markdown table (also in target/gpu-check/gpu.md) and exits non-zero if a check fails.
#
# Needs: JDK 17, Maven with Maven Central (or a ~/.m2 that already holds nd4j-cuda-11.6), an NVIDIA driver
# >= 510, and a GPU of compute capability 3.7 to 8.9: ND4J 1.0.0-M2.1's CUDA library holds machine code for
# sm_37...sm_86 and no PTX, so Hopper (9.0) and newer cannot run it (docs/gpu.md; scripts/cuda-archs.py).
# Without a CUDA 11.6 toolkit on the machine, set GPU_CHECK_REDIST=1 to bundle CUDA's libraries (1.8 GB).
# GPU_CHECK_DRY_RUN=1 runs every step on the CPU instead (the GPU run with ND4J-op kernels on nd4j-native),
# to check the script itself where there is no GPU (without step times, unless GPU_CHECK_TIMINGS names them:
# minilm, llama).
# Sized for a few minutes: two Maven builds, two runs of about a minute, 5 timed steps per shape.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
out=target/gpu-check
mkdir -p "$out"

if [[ -z "${GPU_CHECK_DRY_RUN:-}" ]]; then
    if ! gpus=$(nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null); then
        echo "gpu-check: nvidia-smi found no NVIDIA GPU or driver" >&2
        exit 2
    fi
    echo "GPU: $gpus"
    cap=$(head -1 <<<"$gpus" | cut -d, -f2 | tr -d ' ')
    if [[ "${cap%%.*}" -ge 9 ]]; then
        echo "gpu-check: compute capability $cap: ND4J 1.0.0-M2.1's CUDA kernels have machine code up to sm_86 and no PTX, so they run up to 8.x, not on Hopper (see docs/gpu.md)" >&2
        exit 3
    fi
fi

echo "== CPU build and reference"
mvn -B -q install -DskipTests
bin/peft4j bench device-check --save "$out/cpu.safetensors" --timings none | tee "$out/cpu.md"

if [[ -z "${GPU_CHECK_DRY_RUN:-}" ]]; then
    echo "== CUDA build"
    # clean: examples/target/lib must hold one backend only
    mvn -B -q -Pcuda${GPU_CHECK_REDIST:+,cuda-redist} clean package -DskipTests -pl examples
    kernels=auto
else
    kernels=portable
    GPU_CHECK_TIMINGS=${GPU_CHECK_TIMINGS:-none}   # a LLaMA-sized step on a small CPU takes minutes
fi

echo "== check"
status=0
bin/peft4j bench device-check --compare "$out/cpu.safetensors" --kernels "$kernels" \
    ${GPU_CHECK_TIMINGS:+--timings "$GPU_CHECK_TIMINGS"} | tee "$out/gpu.md" || status=$?
if [[ -z "${GPU_CHECK_DRY_RUN:-}" ]]; then
    echo "(examples/target now runs on CUDA; 'mvn -B -q clean install -DskipTests' brings back the CPU build)"
fi
exit "$status"
