#!/usr/bin/env bash
# Builds perennial-bench on a GPU machine with PyTorch and no apt: PERENNIAL_MODEL_ONLY=ON
# against the LibTorch inside PyTorch, for Hopper (sm_90), with perennial's CUDA kernels where
# nvcc is found. Prints the card and the versions.
#
#   bench/gpu_build.sh [build dir]     (default: build-gpu)
#   BUILD_TESTS=ON bench/gpu_build.sh  (also configures the tests, where GoogleTest is found)
set -euo pipefail
build=${1:-build-gpu}

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'

# nvcc for perennial's own kernels (learner/model/*_kernels.cu): CUDA's usual place when it is
# not on PATH. Without one the build still succeeds, with ATen's ops in their place.
cuda_compiler=()
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  cuda_compiler=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi

# OpenMP for perennial's CPU kernels (top-level CMakeLists.txt, session 28) is off here unless
# PERENNIAL_OPENMP=ON: PyTorch's wheel bundles its own renamed libgomp, and a build that also
# links the system's has not run on a GPU machine yet. Only the CPU reference checks run those
# kernels on this machine.
openmp=${PERENNIAL_OPENMP:-OFF}

start=$(date +%s)
# Tests are built where GoogleTest is found (fused_add_layer_norm_test checks the kernels).
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPERENNIAL_MODEL_ONLY=ON \
  -DPERENNIAL_BUILD_TESTS="${BUILD_TESTS:-OFF}" -DCMAKE_PREFIX_PATH="$prefix" \
  -DTORCH_CUDA_ARCH_LIST=9.0 -DCMAKE_CUDA_ARCHITECTURES=90 -DPERENNIAL_OPENMP="$openmp" \
  "${cuda_compiler[@]}" \
  >"$build/configure.log" || { cat "$build/configure.log"; exit 1; }
grep -E 'CUDA compiler|fused kernels|GoogleTest|parallel_for' "$build/configure.log" || true
ninja -C "$build" perennial-bench | tail -n 3
echo "build took $(( $(date +%s) - start )) s"
