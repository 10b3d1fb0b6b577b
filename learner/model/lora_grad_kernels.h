// File: learner/model/lora_grad_kernels.h
//
// One pass over a LoRA map's output gradient g [rows, cols] for both backward products that
// read it (t = x A^T from the forward, B [cols, 8], s the LoRA scale):
//
//   gt = s g B     [rows, 8]   the gradient of t, in g's type
//   gb = s g^T t   [cols, 8]   B's gradient, in fp32
//
// As two cuBLAS products these read all of g twice (g is up to [100,864, 3072] in a ViT-B/16
// SIT step at batch 512). Here each block stages a band of g rows in shared memory, chunk by
// chunk of columns, and tensor cores (WMMA, m32n8k16) take both products from it. gt
// accumulates across the chunks in fp32 and is rounded once; each block adds its band's share
// of gb into `gb` with atomic adds, so gb's last bits depend on the order in which the blocks
// finish (not bitwise reproducible, like cuBLAS's atomics-based reductions). How chunks of g
// reach shared memory: LoraGradPassArgs::pipeline (lora_grad_pass_pipeline.h, with each one's
// figures). Raw pointers and a stream, no LibTorch.
// Session 24 moved gb's sum into the kernel (it was a [bands, cols, 8] partial and a separate
// reduction: 1.4 ms per step at batch 512) and gt's scale and cast (0.6 ms); with those the pass
// pays in the step (session 26: ViT-B/16 bf16 SIT 3-4% faster on an H200 and an H100) and is
// the default (ModelOptions::fused_lora_grad; bench/README.md, section "Session 26").
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
  void* gt = nullptr;                         // [rows, 8], g's type: written
  float* gb = nullptr;                        // [cols, 8]: added to (the caller zeroes it)
  float scale = 1;                            // s: both products are multiplied by it
  // When set ([rows, cols], like g): g is the gradient of SiLU's output and silu_input SiLU's
  // input. The pass then multiplies g by SiLU's derivative at silu_input (ATen's silu_backward
  // formula in fp32, with approximate exp and division, rounded once), writes that gradient to
  // g_out ([rows, cols]) and takes both products of it: SiLU's backward and the thin products of
  // the map before it in one pass.
  const void* silu_input = nullptr;
  void* g_out = nullptr;
  // How chunks of g reach shared memory (lora_grad_pass_pipeline.h).
  LoraGradPassPipeline pipeline = LoraGradPassPipeline::kStaged;
  int64_t rows = 0;
  int cols = 0;
};

// Whether the kernel takes g of this type, `cols` wide, and this rank: bf16/fp16, cols a
// multiple of 8, rank 8. All tensors row-major, contiguous, 16-byte aligned.
bool LoraGradPassSupports(ElementType type, int64_t cols, int64_t rank);

// Queues the pass on `stream`; returns the launch's error.
cudaError_t LaunchLoraGradPass(const LoraGradPassArgs& args, cudaStream_t stream);

// The forward's counterpart, with the same kernels: h = SiLU(u) [rows, cols] and t = h A^T
// [rows, 8] in one pass over u, for the MLP's first map's output u and the second map's A
// [8, cols], which then need not read h back for its own t. SiLU as the pass's prologue
// computes it (approximate exp and division in fp32, rounded once); t accumulated in fp32 and
// rounded once.
struct SiluThinProductArgs {
  ElementType type = ElementType::kBFloat16;  // kBFloat16 or kFloat16
  const void* u = nullptr;                    // [rows, cols]
  const void* a_t = nullptr;                  // A^T [cols, 8]
  void* h = nullptr;                          // [rows, cols]: written
  void* t = nullptr;                          // [rows, 8]: written
  LoraGradPassPipeline pipeline = LoraGradPassPipeline::kStaged;
  int64_t rows = 0;
  int cols = 0;
};

// Queues it on `stream`; returns the launch's error. Takes what LoraGradPassSupports takes.
cudaError_t LaunchSiluThinProduct(const SiluThinProductArgs& args, cudaStream_t stream);

}  // namespace perennial::cuda_kernels

#endif  // PERENNIAL_LEARNER_MODEL_LORA_GRAD_KERNELS_H_
