// File: learner/model/lora_grad_kernels.h
//
// One pass over a LoRA map's output gradient g [rows, cols] for both backward products that
// read it (t = x A^T from the forward, B [cols, 8]):
//
//   gt = g B     [rows, 8]   the gradient of t, before the LoRA scale
//   gb = g^T t   [cols, 8]   B's gradient, before the LoRA scale
//
// As two cuBLAS products these read all of g twice (for a ViT-B/16 bf16 SIT step at batch 512
// on an H200, ~7.7 ms of ~107: g is up to [100,864, 3072]). Here each block stages a band of g
// rows in shared memory, chunk by chunk of columns, and tensor cores (WMMA, m32n8k16) take both
// products from it. gt accumulates across the chunks; gb per band goes to `gb_partial`, which
// the caller sums over its first dimension. Raw pointers and a stream, no LibTorch.
// TODO(issue 8): sessions 21-22's kStaged pipeline passed its tests on an H100 (session 24)
// but made the step 3% slower than the two products: its loads sit in 111-144 registers per
// thread (1-2 blocks per SM) and wait for each chunk's products. kPrefetch and kAsyncCopy
// (session 24, compiled only) are timed against it by bench/lora_grad_bench.cc.
#ifndef PERENNIAL_LEARNER_MODEL_LORA_GRAD_KERNELS_H_
#define PERENNIAL_LEARNER_MODEL_LORA_GRAD_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "learner/model/kernel_element_type.h"
#include "learner/model/lora_grad_pass_pipeline.h"

namespace perennial::cuda_kernels {

// The LoRA rank the kernel takes.
inline constexpr int kLoraGradRank = 8;

struct LoraGradPassArgs {
  ElementType type = ElementType::kBFloat16;  // kBFloat16 or kFloat16
  const void* g = nullptr;                    // [rows, cols]
  const void* b = nullptr;                    // [cols, 8]
  const void* t = nullptr;                    // [rows, 8]
  float* gt = nullptr;                        // [rows, 8]
  float* gb_partial = nullptr;                // [LoraGradPassBands(rows), cols, 8]
  // When set ([rows, cols], like g): g is the gradient of SiLU's output and silu_input SiLU's
  // input. The pass then multiplies g by SiLU's derivative at silu_input (in fp32, rounded once,
  // as ATen's silu_backward), writes that gradient to g_out ([rows, cols]) and takes both
  // products of it: SiLU's backward and the thin products of the map before it in one pass.
  const void* silu_input = nullptr;
  void* g_out = nullptr;
  // How chunks of g reach shared memory (lora_grad_pass_pipeline.h).
  LoraGradPassPipeline pipeline = LoraGradPassPipeline::kStaged;
  int64_t rows = 0;
  int cols = 0;
};

// The first dimension of gb_partial for `rows` rows.
int64_t LoraGradPassBands(int64_t rows);

// Whether the kernel takes g of this type, `cols` wide, and this rank: bf16/fp16, cols a
// multiple of 8, rank 8. All tensors row-major, contiguous, 16-byte aligned.
bool LoraGradPassSupports(ElementType type, int64_t cols, int64_t rank);

// Queues the pass on `stream`; returns the launch's error.
cudaError_t LaunchLoraGradPass(const LoraGradPassArgs& args, cudaStream_t stream);

}  // namespace perennial::cuda_kernels

#endif  // PERENNIAL_LEARNER_MODEL_LORA_GRAD_KERNELS_H_
