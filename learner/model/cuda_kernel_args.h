// File: learner/model/cuda_kernel_args.h
//
// What the LibTorch side of every perennial CUDA kernel (fused_*.cc) checks and passes: a
// tensor's element type, the 16-byte alignment the kernels' vector loads need, and a launch's
// error. Only for builds with the kernels (PERENNIAL_CUDA_KERNELS).
#ifndef PERENNIAL_LEARNER_MODEL_CUDA_KERNEL_ARGS_H_
#define PERENNIAL_LEARNER_MODEL_CUDA_KERNEL_ARGS_H_

#include <cuda_runtime_api.h>
#include <torch/torch.h>

#include <cstdint>
#include <optional>

#include "learner/model/kernel_element_type.h"

namespace perennial::cuda_kernels {

// The kernels' name for `type`; nullopt for types they do not take.
inline std::optional<ElementType> ElementTypeOf(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return ElementType::kFloat32;
    case torch::kFloat16: return ElementType::kFloat16;
    case torch::kBFloat16: return ElementType::kBFloat16;
    default: return std::nullopt;
  }
}

// Whether t's data starts on a 16-byte boundary.
inline bool Aligned16(const torch::Tensor& t) {
  return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0;
}

// Throws c10::Error naming `what` when a launch failed.
inline void CheckLaunch(cudaError_t error, const char* what) {
  TORCH_CHECK(error == cudaSuccess, what, ": ", cudaGetErrorString(error));
}

}  // namespace perennial::cuda_kernels

#endif  // PERENNIAL_LEARNER_MODEL_CUDA_KERNEL_ARGS_H_
