// File: learner/model/kernel_vectors.cuh
//
// Device helpers shared by perennial's CUDA kernels (*_kernels.cu): 16 bytes of an element type
// moved as one vector, and the conversions to and from fp32 that their arithmetic runs in.
// nvcc only.
#ifndef PERENNIAL_LEARNER_MODEL_KERNEL_VECTORS_CUH_
#define PERENNIAL_LEARNER_MODEL_KERNEL_VECTORS_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace perennial::cuda_kernels {

// 16 bytes of T, moved as one vector load or store.
template <typename T>
struct alignas(16) Vec {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

__device__ inline float ToFloat(float v) { return v; }
__device__ inline float ToFloat(__half v) { return __half2float(v); }
__device__ inline float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

// fp32 to T, rounded to nearest even.
template <typename T>
__device__ inline T FromFloat(float v);
template <>
__device__ inline float FromFloat<float>(float v) {
  return v;
}
template <>
__device__ inline __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ inline __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

}  // namespace perennial::cuda_kernels

#endif  // PERENNIAL_LEARNER_MODEL_KERNEL_VECTORS_CUH_
