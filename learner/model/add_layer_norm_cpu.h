// File: learner/model/add_layer_norm_cpu.h
//
// The CPU kernels behind FusedAddLayerNorm (fused_add_layer_norm.h), on raw pointers, no
// LibTorch. Rows are contiguous [rows, width] of T (float, or bf16 as its uint16_t bits); gamma
// and beta are fp32 [width] (the CPU computes LayerNorm in fp32 whatever the activations'
// dtype); mean and rstd are fp32 [rows]. Each row is read and written once per pass, and
// converted between bf16 and fp32 in the same pass, where the separate ATen ops (add, to(fp32),
// layer_norm, to(bf16), and their backward nodes) took ~10 passes and as many dispatches.
//
// The callers split rows across threads; a call here runs on the calling thread.
#ifndef PERENNIAL_LEARNER_MODEL_ADD_LAYER_NORM_CPU_H_
#define PERENNIAL_LEARNER_MODEL_ADD_LAYER_NORM_CPU_H_

#include <cstdint>

namespace perennial::cpu_kernels {

// Widest row the kernels take (a row is staged in fp32 on the stack).
constexpr int64_t kAddLayerNormMaxWidth = 4096;

template <typename T>
struct AddLayerNormForwardArgs {
  const T* x = nullptr;
  const T* branch = nullptr;  // null: no add, sum is x
  const float* gamma = nullptr;
  const float* beta = nullptr;
  T* sum = nullptr;  // written when branch is non-null
  T* normed = nullptr;
  float* mean = nullptr;
  float* rstd = nullptr;
  int64_t width = 0;
  float eps = 1e-5f;
};

// Rows [begin, end): sum = x + branch, rounded to T as ATen's add rounds it; normed =
// (sum - mean) * rstd * gamma + beta in fp32, rounded to T once; mean and rstd over the rounded
// sum (two passes over the row in fp32, as ATen's CPU layer_norm).
template <typename T>
void AddLayerNormForwardRows(const AddLayerNormForwardArgs<T>& args, int64_t begin, int64_t end);

template <typename T>
struct AddLayerNormBackwardArgs {
  const T* grad_normed = nullptr;
  const T* grad_sum = nullptr;  // null: the sum's own gradient is zero
  const T* sum = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  const float* gamma = nullptr;
  T* grad_x = nullptr;
  int64_t width = 0;
};

// Rows [begin, end): grad_x = grad_sum + LayerNorm's input gradient for grad_normed, in fp32 and
// rounded to T once. No gradient for gamma or beta.
template <typename T>
void AddLayerNormBackwardRows(const AddLayerNormBackwardArgs<T>& args, int64_t begin, int64_t end);

}  // namespace perennial::cpu_kernels

#endif  // PERENNIAL_LEARNER_MODEL_ADD_LAYER_NORM_CPU_H_
