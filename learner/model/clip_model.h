// File: learner/model/clip_model.h
//
// CLIP (ViT image tower + causal text tower + logit scale) on LibTorch, numerically the
// reference openai/CLIP model. The base weights are immutable after construction; PET adapters
// (pet.h) are passed per call, so one ClipModel serves training, snapshots and the teacher.
//
// Thread-safety: all const methods may run concurrently (grad mode is thread-local in LibTorch).
//
// Example:
//   PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, ClipModel::Load("ViT-B-32.safetensors", {}));
//   torch::Tensor image_features = model.EncodeImage(pixels);           // [N, E]
//   torch::Tensor text_features = model.EncodeText(tokens, &adapters);  // [M, E]
#ifndef PERENNIAL_LEARNER_MODEL_CLIP_MODEL_H_
#define PERENNIAL_LEARNER_MODEL_CLIP_MODEL_H_

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_config.h"
#include "learner/model/pet.h"
#include "learner/model/transformer.h"

namespace perennial {

struct ModelOptions {
  // Where the weights live and compute runs. Default: CPU.
  torch::Device device = torch::kCPU;
  // Compute dtype of the weights: kFloat32, or kFloat16 / kBFloat16 where the device supports
  // them (LayerNorm always runs in fp32). Default: fp32.
  torch::ScalarType dtype = torch::kFloat32;
  // Overrides the activation the file's metadata implies (e.g. for an open_clip GELU model
  // saved without metadata). Default: unset.
  std::optional<Activation> activation;
  // CPU, fp32 or bf16: multiply the frozen transformer weights with oneDNN (onednn_linear.h):
  // fp32 at 1.8x the GEMM speed of Debian's OpenBLAS here, bf16 at 1.2-1.5x ATen's own bf16
  // products, at the cost of two packed copies of those weights (W for forward, W^T for
  // gradients). Weights that require grad are never packed. Default: on.
  bool onednn_linear = true;
  // EncodeText runs the positions that all texts of a call begin with (a prompt template's
  // start) once, not once per text (SharedPrefixTransformerForward). Unset: on for the CPU, off
  // on GPUs. On the CPU the rows it saves are time; on a GPU the learner's step is bound by
  // kernel launches instead, and the prefix path's extra ops cost more than the rows it saves
  // (H200, default model, batch 16: 7 of 8 runs faster without it, ~15% on average; ViT-B/16:
  // bench/README.md). Default: unset.
  std::optional<bool> share_text_prefix;
  // Run perennial's own fused kernels: on a GPU where the build has them (CMake option
  // PERENNIAL_CUDA_KERNELS, where LibTorch has CUDA and nvcc is found), on the CPU the residual
  // add + LayerNorm (fused_add_layer_norm.h); off runs ATen's ops only, to compare. The CPU
  // LayerNorms without an add take the fused kernels either way. Default: on.
  bool fused_kernels = true;
  // With fused_kernels on CUDA: one pass over a LoRA map's output gradient for both of its
  // backward's thin products (fused_lora_grad.h), for the MLP's first map the same pass with
  // SiLU's backward in front and, in the forward, SiLU with the second map's thin product
  // (FusedKernels::silu_lora). ViT-B/16 bf16 SIT step, H200, session 26: batch 1024 in
  // 200.3-201.1 ms against 207.9-208.2 without (34.9-35.0% MFU against 33.8-33.9%). Off runs
  // ATen's thin products, to compare. Default: on.
  bool fused_lora_grad = true;
  // A LoRA-adapted q/k/v map hands q, k and v to attention as three outputs of one autograd
  // node, so that the backward never concatenates their gradients
  // (FusedKernels::qkv_grads_apart). Exact; pays only where x's gradient is a GEMM with the
  // merged weight, so CUDA only (ViT-B/16 bf16 SIT step, batch 512, an H100, session 24: 117.2
  // to 118.2 ms against 118.5 to 119.0 in three alternating rounds). Default: on (on CUDA).
  bool qkv_grads_apart = true;
};

struct VisionWeights {
  torch::Tensor conv1;                 // patch embedding [w, 3, p, p], no bias
  torch::Tensor class_embedding;       // [w]
  torch::Tensor positional_embedding;  // [grid^2 + 1, w]
  LayerNormWeights ln_pre;
  TransformerWeights transformer;
  LayerNormWeights ln_post;
  torch::Tensor proj;  // [w, embed]
};

struct TextWeights {
  torch::Tensor token_embedding;       // [vocab, w]
  torch::Tensor positional_embedding;  // [context, w]
  TransformerWeights transformer;
  LayerNormWeights ln_final;
  torch::Tensor projection;  // [w, embed]
};

class ClipModel {
 public:
  // Builds the model from tensors in the OpenAI key layout (see clip_weights.h for loading any
  // supported file into that layout). Every tensor must be present with the shape the inferred
  // config implies; errors name the tensor.
  // Tensors that already have the options' device and dtype and are contiguous are kept, not
  // copied (logit_scale when it is fp32). Pretraining relies on this (learner/pretrain/): it
  // passes fp32 leaves that require grad and updates them in place through Tensors(false), which
  // returns those same tensors. Everything else treats the weights as frozen.
  static StatusOr<ClipModel> FromTensors(const std::map<std::string, torch::Tensor>& tensors,
                                         const std::map<std::string, std::string>& metadata,
                                         const ModelOptions& options);
  // Loads any supported weight file (OpenAI/open_clip or Hugging Face safetensors, OpenAI
  // TorchScript .pt). Errors name the file.
  static StatusOr<ClipModel> Load(const std::string& path, const ModelOptions& options);

  const ClipConfig& config() const { return config_; }
  torch::Device device() const { return options_.device; }
  torch::ScalarType dtype() const { return options_.dtype; }

  // pixels: [N, 3, R, R] float (preprocessed). Returns projected, unnormalised features [N, E]
  // in fp32. `adapters` may be null (the base model); `training` enables LoRA dropout.
  // Throws c10::Error on a wrong pixel shape (callers outside learner/ wrap with CatchTorch).
  torch::Tensor EncodeImage(const torch::Tensor& pixels, const Adapters* adapters = nullptr,
                            bool training = false) const;
  // tokens: [N, L] int64 with L <= context_length, SOT ... EOT then zero padding (EOT has the
  // highest id, so its position is the argmax, as in the reference). Positions after the EOT
  // are skipped (exact under the causal mask): the longest EOT's, each text's own when shared.
  // Pass tokens on the CPU: tokens on a GPU are accepted, but copied back first (a wait).
  torch::Tensor EncodeText(const torch::Tensor& tokens, const Adapters* adapters = nullptr,
                           bool training = false) const;
  // exp(logit_scale), clamped at 100 as in CLIP's training; a 0-dim fp32 tensor.
  torch::Tensor LogitScale() const;

  // A snapshot of `adapters` with each LoRA delta also folded into a full weight (merged_* in
  // BlockAdapters, packed for oneDNN on CPU), which the forward uses instead of the pair: faster
  // inference for a snapshot that will serve many queries, at the memory of one (CPU: two)
  // copies of the adapted weights. The LoRA pairs are kept, so the result still serialises like
  // the input. Bottleneck adapters are returned unchanged.
  Adapters MergeAdapters(const Adapters& adapters) const;

  // The weights in the OpenAI key layout (fp32 copies on CPU when `cpu_fp32`), for saving.
  std::map<std::string, torch::Tensor> Tensors(bool cpu_fp32 = true) const;
  int64_t ParameterCount() const;

 private:
  ClipConfig config_;
  ModelOptions options_;
  VisionWeights vision_;
  TextWeights text_;
  torch::Tensor logit_scale_;  // log scale, fp32 scalar
};

// "fp32", "bf16" or "fp16" as a compute dtype for ModelOptions::dtype; errors name the value.
StatusOr<torch::ScalarType> ParseComputeDtype(const std::string& name);

// "cpu", "cuda" or "cuda:N" as a device this process can compute on: InvalidArgument for any
// other name, FailedPrecondition for a CUDA device this LibTorch build or machine lacks. Errors
// name the value.
StatusOr<torch::Device> ParseDevice(const std::string& name);

// Pads token id lists (each SOT ... EOT, at most `context_length` long) into a [N, L] int64
// tensor with L = the longest list (or `context_length` when `pad_to_context`).
torch::Tensor TokensToTensor(const std::vector<std::vector<int32_t>>& ids, int context_length,
                             bool pad_to_context = false);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CLIP_MODEL_H_
