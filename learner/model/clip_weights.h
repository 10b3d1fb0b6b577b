// File: learner/model/clip_weights.h
//
// Loads ViT CLIP weights from the three kinds of files people have and returns them in one
// canonical form: the OpenAI key layout of clip/model.py's `CLIP.state_dict()`, e.g.
//
//   visual.conv1.weight [w, 3, p, p]            visual.class_embedding [w]
//   visual.positional_embedding [g*g+1, w]      visual.ln_pre.{weight,bias} [w]
//   visual.transformer.resblocks.{i}.attn.in_proj_weight [3w, w]   (rows: q, k, v)
//   visual.transformer.resblocks.{i}.attn.in_proj_bias [3w]
//   visual.transformer.resblocks.{i}.attn.out_proj.{weight [w, w], bias [w]}
//   visual.transformer.resblocks.{i}.ln_1.{weight,bias} [w], ln_2.{weight,bias} [w]
//   visual.transformer.resblocks.{i}.mlp.c_fc.{weight [h, w], bias [h]}
//   visual.transformer.resblocks.{i}.mlp.c_proj.{weight [w, h], bias [w]}
//   visual.ln_post.{weight,bias} [w]            visual.proj [w, e]
//   token_embedding.weight [vocab, t]           positional_embedding [context, t]
//   transformer.resblocks.{i}.* (as above, width t)
//   ln_final.{weight,bias} [t]                  text_projection [t, e]
//   logit_scale []                              (a 0-dim tensor)
//
// Accepted files:
//   - safetensors in that layout (OpenAI / open_clip ViT state dicts);
//   - safetensors in Hugging Face `CLIPModel` layout (vision_model.*, text_model.*,
//     visual_projection.weight [e, w], text_projection.weight [e, t], logit_scale): q/k/v
//     projections are concatenated into in_proj_*, projections transposed, names mapped; the
//     position_ids buffers are dropped;
//   - TorchScript archives (OpenAI's released .pt files) via torch::jit::load on the CPU; their
//     extra input_resolution/context_length/vocab_size entries are dropped.
// Tensors keep the file's dtype (fp16, bf16, fp32 or fp64); callers cast as they need.
//
// A file that is not one of these, is truncated, lacks a tensor, has an unexpected one, or whose
// shapes do not fit together yields InvalidArgumentError naming the file and the tensor (a missing
// file: NotFoundError). ResNet image towers (visual.layer1...) are refused with a message saying
// so. Nothing here throws.
//
// Thread-safety: functions are reentrant.
#ifndef PERENNIAL_LEARNER_MODEL_CLIP_WEIGHTS_H_
#define PERENNIAL_LEARNER_MODEL_CLIP_WEIGHTS_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "learner/base/status.h"

namespace perennial {

enum class WeightFormat { kOpenAiSafetensors, kHuggingFaceSafetensors, kTorchScript };

// "openai-safetensors", "huggingface-safetensors" or "torchscript".
const char* WeightFormatName(WeightFormat format);

// The architecture a set of weights describes, inferred from their shapes as the reference's
// build_model does. Head counts cannot be inferred from shapes: they come from the metadata keys
// "vision_heads" / "text_heads" when present (they must divide the width), otherwise from OpenAI's
// convention width / 64, with at least one head.
struct ClipDims {
  int64_t embed_dim = 0;
  int64_t vision_width = 0;
  int64_t vision_layers = 0;
  int64_t vision_heads = 0;
  int64_t vision_mlp_width = 0;  // hidden width of the MLP (4 x width for OpenAI models)
  int64_t patch_size = 0;
  int64_t grid_size = 0;         // patches per side
  int64_t image_resolution = 0;  // patch_size x grid_size
  int64_t text_width = 0;
  int64_t text_layers = 0;
  int64_t text_heads = 0;
  int64_t text_mlp_width = 0;
  int64_t context_length = 0;
  int64_t vocab_size = 0;
};

struct ClipWeights {
  std::map<std::string, torch::Tensor> tensors;  // OpenAI key layout, file dtype, CPU, contiguous
  WeightFormat format = WeightFormat::kOpenAiSafetensors;
  std::string path;
  std::map<std::string, std::string> metadata;  // the safetensors metadata; empty for TorchScript
  ClipDims dims;
};

// Reads `path`, sniffing the format from its first bytes (a zip archive is TorchScript, anything
// else must be safetensors), converts to the OpenAI layout and checks it (CheckClipTensors).
StatusOr<ClipWeights> LoadClipWeights(const std::string& path);

// Checks that `tensors` (OpenAI layout) are exactly a complete ViT CLIP with mutually consistent
// shapes and floating-point dtypes, and returns its dimensions. `metadata` may set head counts
// (see ClipDims). Errors start with `name_for_errors` and name the tensor.
StatusOr<ClipDims> CheckClipTensors(const std::map<std::string, torch::Tensor>& tensors,
                                    const std::map<std::string, std::string>& metadata,
                                    const std::string& name_for_errors);

// Maps Hugging Face CLIPModel tensors to the OpenAI layout (no completeness check; unknown keys
// are errors naming the key).
StatusOr<std::map<std::string, torch::Tensor>> ConvertHuggingFaceClip(
    const std::map<std::string, torch::Tensor>& hf_tensors, const std::string& name_for_errors);

// Checks `tensors` (CheckClipTensors) and writes them as OpenAI-layout safetensors, atomically.
Status SaveClipWeights(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CLIP_WEIGHTS_H_
