// File: learner/model/pet.h
//
// Parameter-efficient tuning (PET) state, kept apart from the frozen base model.
//
// The base CLIP weights are loaded once and never change; everything a learner trains lives in an
// `Adapters` value: LoRA pairs on chosen linear maps, or bottleneck adapters after each MLP. The
// forward functions take the adapters as an argument, so one base model serves the training
// adapters, any number of published snapshots, and the teacher (no adapters) at the same time.
//
// Thread-safety: an Adapters value is a bundle of tensors. Training mutates its tensors in place
// (the optimizer); Snapshot() makes detached copies that are safe to read from many threads.
#ifndef PERENNIAL_LEARNER_MODEL_PET_H_
#define PERENNIAL_LEARNER_MODEL_PET_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/clip_config.h"
#include "learner/model/onednn_linear.h"

namespace perennial {

enum class PetKind { kNone, kLora, kBottleneck };
enum class TowerSelection { kImage, kText, kBoth };

const char* PetKindName(PetKind kind);
const char* TowerSelectionName(TowerSelection towers);
StatusOr<PetKind> ParsePetKind(const std::string& name);  // "none" | "lora" | "adapter"
StatusOr<TowerSelection> ParseTowerSelection(const std::string& name);  // "image" | "text" | "both"

struct PetOptions {
  // Which kind of PET. Default: LoRA.
  PetKind kind = PetKind::kLora;
  // Which towers get adapters. Default: both (the SIT setting).
  TowerSelection towers = TowerSelection::kBoth;

  // LoRA rank r. Default: 8.
  int lora_rank = 8;
  // LoRA alpha; the delta is scaled by alpha / r. Default: 16.
  double lora_alpha = 16.0;
  // Dropout on the LoRA branch's input while training. Default: 0.
  double lora_dropout = 0.0;
  // Target maps. Default: all four (attention qkv and out, MLP fc and proj).
  bool lora_attn_qkv = true;
  bool lora_attn_out = true;
  bool lora_mlp_fc = true;
  bool lora_mlp_proj = true;

  // Bottleneck adapter hidden width (Houlsby-style adapter after each MLP). Default: 64.
  int bottleneck_dim = 64;
  // Residual scale of the adapter's output. Default: 1.
  double bottleneck_scale = 1.0;

  double lora_scaling() const { return lora_alpha / lora_rank; }
  bool tunes_image() const { return kind != PetKind::kNone && towers != TowerSelection::kText; }
  bool tunes_text() const { return kind != PetKind::kNone && towers != TowerSelection::kImage; }
  // Key/value form stored in adapter files' metadata; FromMetadata() reverses it.
  std::map<std::string, std::string> ToMetadata() const;
  static StatusOr<PetOptions> FromMetadata(const std::map<std::string, std::string>& metadata);
  Status Validate() const;
};

// A low-rank delta W' = W + scaling * B A. `a` is [r, in], `b` is [out, r]; both undefined when
// the map is not targeted.
struct LoraPair {
  torch::Tensor a;
  torch::Tensor b;
  bool defined() const { return a.defined(); }
};

// Adapters of one transformer block. When a `merged_*` weight is defined it replaces the base
// weight of that map and its LoRA pair is ignored (inference with the delta folded in).
struct BlockAdapters {
  LoraPair qkv, out, fc, proj;
  torch::Tensor merged_qkv, merged_out, merged_fc, merged_proj;
  // oneDNN copies of the merged weights with the base biases (forward only), made by
  // MergeAdapters on CPU; derived data that Snapshot() shares and To() drops.
  PackedLinear packed_qkv, packed_out, packed_fc, packed_proj;
  // Bottleneck: h = up(act(down(x))) added to the block output. down [d, w], up [w, d].
  torch::Tensor down_weight, down_bias, up_weight, up_bias;
};

class Adapters {
 public:
  Adapters() = default;

  // Fresh adapters for a model of `config`: LoRA A ~ Kaiming-uniform (as PEFT does), B = 0, and
  // bottleneck up-projection = 0, so a fresh adapter leaves the base outputs exactly unchanged.
  // Deterministic in `seed`. Tensors are fp32 on `device` and require grad.
  static StatusOr<Adapters> Create(const ClipConfig& config, const PetOptions& options,
                                   uint64_t seed, torch::Device device = torch::kCPU);

  const PetOptions& options() const { return options_; }
  bool empty() const { return image_.empty() && text_.empty(); }
  // Per-block adapters of each tower; empty when that tower is not tuned.
  const std::vector<BlockAdapters>& image_blocks() const { return image_; }
  const std::vector<BlockAdapters>& text_blocks() const { return text_; }

  // The trainable tensors (for the optimizer), in NamedTensors() order.
  std::vector<torch::Tensor> Parameters() const;
  int64_t ParameterCount() const;
  // Stable names such as "visual.transformer.resblocks.3.attn.in_proj.lora_a".
  std::vector<std::pair<std::string, torch::Tensor>> NamedTensors() const;
  // Rebuilds adapters from NamedTensors() output; every expected tensor must be present with
  // its shape, and nothing else. Errors name the tensor.
  static StatusOr<Adapters> FromNamedTensors(
      const ClipConfig& config, const PetOptions& options,
      const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

  // Detached, independent copies with requires_grad off: an immutable snapshot for readers.
  Adapters Snapshot() const;
  // Copies all tensors to `device` (and keeps their dtypes).
  Adapters To(torch::Device device) const;

 private:
  friend class ClipModel;  // MergeAdapters() fills the merged_* weights.
  PetOptions options_;
  std::vector<BlockAdapters> image_;
  std::vector<BlockAdapters> text_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_PET_H_
