// File: bench/device_memory.h
//
// Peak GPU memory of a timed region, read from LibTorch's CUDA caching allocator: the figure
// PyTorch's torch.cuda.max_memory_allocated() reports, so it compares with the PyTorch peer's.
// Built only where LibTorch has CUDA (PERENNIAL_BENCH_CUDA_MEMORY, set by bench/CMakeLists.txt);
// elsewhere both functions do nothing.
#ifndef PERENNIAL_BENCH_DEVICE_MEMORY_H_
#define PERENNIAL_BENCH_DEVICE_MEMORY_H_

#include <torch/torch.h>

namespace perennial::bench {

// Starts a new peak for `device` (a no-op for the CPU).
void ResetDevicePeakMemory(const torch::Device& device);

// MiB allocated at the peak since the last reset; negative when `device` is not CUDA or this
// build cannot read the allocator's statistics.
double DevicePeakMemoryMiB(const torch::Device& device);

}  // namespace perennial::bench

#endif  // PERENNIAL_BENCH_DEVICE_MEMORY_H_
