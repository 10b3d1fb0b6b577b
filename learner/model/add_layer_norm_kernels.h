// File: learner/model/add_layer_norm_kernels.h
//
// The CUDA kernels behind FusedAddLayerNorm (fused_add_layer_norm.h), on raw pointers and a
// stream so that nvcc compiles them without LibTorch's headers. Tensors are row-major
// [rows, width], contiguous and 16-byte aligned; mean and rstd are fp32 [rows]. One warp owns
// a row and keeps it in registers, so each tensor is read or written exactly once.
#ifndef PERENNIAL_LEARNER_MODEL_ADD_LAYER_NORM_KERNELS_H_
#define PERENNIAL_LEARNER_MODEL_ADD_LAYER_NORM_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "learner/model/kernel_element_type.h"

namespace perennial::cuda_kernels {

// sum = x + branch, rounded to the element type; normed = (sum - mean) * rstd * gamma + beta,
// the statistics taken over the rounded sum in fp32, as ATen's add then layer_norm compute them.
struct AddLayerNormForwardArgs {
  ElementType type = ElementType::kFloat32;
  const void* x = nullptr;
  const void* branch = nullptr;
  const void* gamma = nullptr;  // [width], the element type
  const void* beta = nullptr;   // [width], the element type
  void* sum = nullptr;
  void* normed = nullptr;
  float* mean = nullptr;
  float* rstd = nullptr;
  int64_t rows = 0;
  int width = 0;
  float eps = 1e-5f;
};

// grad_x = grad_sum + LayerNorm's input gradient for grad_normed, added in fp32 and rounded
// once. `grad_sum` may be null (the sum's own gradient is zero). No gradient for gamma or beta.
struct AddLayerNormBackwardArgs {
  ElementType type = ElementType::kFloat32;
  const void* grad_normed = nullptr;
  const void* grad_sum = nullptr;
  const void* sum = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  const void* gamma = nullptr;
  void* grad_x = nullptr;
  int64_t rows = 0;
  int width = 0;
};

// Whether the kernels take rows of `width` elements of `type`: a whole number of 16-byte
// vectors, at most 8 of them per lane (bf16/fp16 up to 2,048 wide, fp32 up to 1,024).
bool AddLayerNormSupports(ElementType type, int64_t width);

// Queue the kernel on `stream`; returns the launch's error (cudaSuccess when queued).
cudaError_t LaunchAddLayerNormForward(const AddLayerNormForwardArgs& args, cudaStream_t stream);
cudaError_t LaunchAddLayerNormBackward(const AddLayerNormBackwardArgs& args, cudaStream_t stream);

}  // namespace perennial::cuda_kernels

#endif  // PERENNIAL_LEARNER_MODEL_ADD_LAYER_NORM_KERNELS_H_
