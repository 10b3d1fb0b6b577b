#include "bench/device_memory.h"

#if PERENNIAL_BENCH_CUDA_MEMORY
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace perennial::bench {
#if PERENNIAL_BENCH_CUDA_MEMORY
namespace {

// torch::Device("cuda") has index -1: the current device, 0 in a single-GPU benchmark.
int DeviceIndex(const torch::Device& device) { return device.index() < 0 ? 0 : device.index(); }

}  // namespace
#endif

void ResetDevicePeakMemory(const torch::Device& device) {
#if PERENNIAL_BENCH_CUDA_MEMORY
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(DeviceIndex(device));
  }
#else
  (void)device;
#endif
}

double DevicePeakMemoryMiB(const torch::Device& device) {
#if PERENNIAL_BENCH_CUDA_MEMORY
  if (!device.is_cuda()) return -1;
  // Index 0 of each stat array is the aggregate over the small and large pools.
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(DeviceIndex(device));
  return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
#else
  (void)device;
  return -1;
#endif
}

}  // namespace perennial::bench
