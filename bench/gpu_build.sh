#!/usr/bin/env bash
# Builds perennial-bench on a GPU machine with PyTorch and no apt: PERENNIAL_MODEL_ONLY=ON
# against the LibTorch inside PyTorch, for Hopper (sm_90). Prints the card and the versions.
#
#   bench/gpu_build.sh [build dir]     (default: build-gpu)
set -euo pipefail
build=${1:-build-gpu}

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'

start=$(date +%s)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPERENNIAL_MODEL_ONLY=ON \
  -DPERENNIAL_BUILD_TESTS=OFF -DCMAKE_PREFIX_PATH="$prefix" -DTORCH_CUDA_ARCH_LIST=9.0 >/dev/null
ninja -C "$build" perennial-bench | tail -n 3
echo "build took $(( $(date +%s) - start )) s"
