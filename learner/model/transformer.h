// File: learner/model/transformer.h
//
// The pre-LayerNorm transformer shared by CLIP's two towers, as plain weights plus pure forward
// functions. Weights are frozen tensors; PET adapters come in per call (see pet.h), which keeps
// forward() const and safe to run from several threads on one set of weights.
#ifndef PERENNIAL_LEARNER_MODEL_TRANSFORMER_H_
#define PERENNIAL_LEARNER_MODEL_TRANSFORMER_H_

#include <torch/torch.h>

#include <vector>

#include "learner/model/clip_config.h"
#include "learner/model/onednn_linear.h"
#include "learner/model/pet.h"

namespace perennial {

struct LinearWeights {
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out]
  PackedLinear packed;   // oneDNN copy of the frozen weight, used on CPU when defined
};

struct LayerNormWeights {
  torch::Tensor weight;
  torch::Tensor bias;
};

// One residual attention block in OpenAI's layout: x += attn(ln_1(x)); x += mlp(ln_2(x)).
struct BlockWeights {
  LayerNormWeights ln_1;
  LinearWeights qkv;  // fused in_proj: [3w, w]
  LinearWeights out;  // out_proj: [w, w]
  LayerNormWeights ln_2;
  LinearWeights fc;    // c_fc: [4w, w]
  LinearWeights proj;  // c_proj: [w, 4w]
};

// Which fused paths a tower takes: perennial's own kernels where they apply (CUDA, and for the
// add + LayerNorm the CPU too, for inputs they take; elsewhere ATen's ops run), and the ways of
// composing ATen's ops that pay on GPUs.
struct FusedKernels {
  // Each LayerNorm that reads the residual stream after an add runs as one op with that add
  // (fused_add_layer_norm.h), on CUDA or the CPU. Default: off.
  bool add_layer_norm = false;
  // Each LoRA map's backward reads its output gradient once for both of its thin products
  // (fused_lora_grad.h). Default: off.
  bool lora_grad = false;
  // A LoRA-adapted q/k/v map returns q, k and v as three outputs of one node
  // (LoraLinearChunks), so that the gradients attention's backward writes apart are used apart,
  // not concatenated into one [rows, 3W] copy per block. Plain ATen, any device; it pays only
  // where x's gradient is a GEMM with the merged weight (CUDA). Default: off.
  bool qkv_grads_apart = false;
  // With LoRA on the MLP's first map and QuickGELU (run as SiLU), the map and its SiLU are one
  // node whose backward takes SiLU's derivative and the map's two thin products in one pass over
  // the gradient (lora_linear.h, LoraLinearBase::silu_output); with LoRA on the second map too,
  // its forward also hands the second map's t = SiLU(y) A^T (LoraLinearBase::next_a), from the
  // pass that applies SiLU where the kernel takes it. Default: off.
  bool silu_lora = false;
};

struct TransformerWeights {
  std::vector<BlockWeights> blocks;
  int heads = 1;
  Activation activation = Activation::kQuickGelu;
  // Which of perennial's own CUDA kernels the tower runs. Set by ClipModel from ModelOptions.
  FusedKernels fused;
};

// How adapters apply during one forward pass.
struct PetRuntime {
  const PetOptions* options = nullptr;  // null: no adapters
  bool training = false;                // enables LoRA dropout
};

// The four linear maps of a block.
enum class BlockMap { kQkv, kOut, kFc, kProj };

// Packs one map's weight (and bias) for oneDNN as a block with `activation` runs it. With
// QuickGELU the MLP runs m sigmoid(1.702 m) as one SiLU, SiLU(1.702 m) / 1.702, with 1.702
// folded into fc (weight and bias) and 1 / 1.702 into proj (weight): the packed weights carry
// those factors (PackedLinear::scale). Undefined where PackLinear cannot pack.
PackedLinear PackBlockLinear(const torch::Tensor& weight, const torch::Tensor& bias, BlockMap map,
                             Activation activation, bool for_backward);

// Packs every linear weight of `weights` for oneDNN (PackBlockLinear, with W^T for gradients);
// weights that cannot be packed are left as they are.
void PackTransformerForOneDnn(TransformerWeights& weights);

// LayerNorm computed in fp32 and cast back, as the reference does for fp16 weights (on CUDA
// the kernel accumulates in fp32 itself).
torch::Tensor LayerNorm(const torch::Tensor& x, const LayerNormWeights& w);

// x: [N, L, width] (batch first). `causal` masks future positions (the text tower).
// `adapters` is null or holds one BlockAdapters per block. Returns [N, L, width], or, when
// `read_rows` ([N] int64 positions on x's device) is given, only the rows the caller reads,
// out[n] = full_out[n, read_rows[n]], as [N, width]: CLIP reads one row per sequence (the class
// token, the EOT token), so the last block computes its attention query, out-projection and MLP
// for those rows alone (keys and values for all), and its backward likewise. Exact: no other
// row of the last block reaches them. Saves 3/4 of a block's products, e.g. ~19% of a 4-block
// tower's, fwd and bwd.
torch::Tensor TransformerForward(const TransformerWeights& weights, torch::Tensor x, bool causal,
                                 const std::vector<BlockAdapters>* adapters,
                                 const PetRuntime& runtime,
                                 const torch::Tensor& read_rows = torch::Tensor());

// The causal (text) tower over N sequences that all begin with the same P tokens, computing
// those positions once: `prefix` [P, width] holds them (embedded), `suffix` [N, S, width] the
// rest of each sequence (positions P .. P + S - 1), each run only up to its read row (`read_rows`
// [N] int64 suffix positions in [0, S), required: under the mask nothing later reaches it).
// Returns the rows at `read_rows`, as TransformerForward on the whole sequences with
// read_rows + P: equal up to float rounding. Skips (N - 1) P rows and every text's padding.
torch::Tensor SharedPrefixTransformerForward(const TransformerWeights& weights,
                                             torch::Tensor prefix, torch::Tensor suffix,
                                             const std::vector<BlockAdapters>* adapters,
                                             const PetRuntime& runtime,
                                             const torch::Tensor& read_rows);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_TRANSFORMER_H_
