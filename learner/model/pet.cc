#include "learner/model/pet.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <functional>

namespace perennial {
namespace {

// One adapted tensor slot of a block: its name suffix, shape, and where it lives.
struct Slot {
  std::string suffix;
  std::vector<int64_t> shape;
  torch::Tensor BlockAdapters::*member;
  LoraPair BlockAdapters::*pair;  // set for LoRA slots, with `is_b` picking a or b
  bool is_b;
};

std::vector<Slot> SlotsFor(const PetOptions& o, int64_t w) {
  std::vector<Slot> slots;
  if (o.kind == PetKind::kLora) {
    const int64_t r = o.lora_rank;
    auto add_pair = [&](const std::string& name, LoraPair BlockAdapters::*pair, int64_t in,
                        int64_t out) {
      slots.push_back({name + ".lora_a", {r, in}, nullptr, pair, false});
      slots.push_back({name + ".lora_b", {out, r}, nullptr, pair, true});
    };
    if (o.lora_attn_qkv) add_pair("attn.in_proj", &BlockAdapters::qkv, w, 3 * w);
    if (o.lora_attn_out) add_pair("attn.out_proj", &BlockAdapters::out, w, w);
    if (o.lora_mlp_fc) add_pair("mlp.c_fc", &BlockAdapters::fc, w, 4 * w);
    if (o.lora_mlp_proj) add_pair("mlp.c_proj", &BlockAdapters::proj, 4 * w, w);
  } else if (o.kind == PetKind::kBottleneck) {
    const int64_t d = o.bottleneck_dim;
    slots.push_back({"adapter.down.weight", {d, w}, &BlockAdapters::down_weight, nullptr, false});
    slots.push_back({"adapter.down.bias", {d}, &BlockAdapters::down_bias, nullptr, false});
    slots.push_back({"adapter.up.weight", {w, d}, &BlockAdapters::up_weight, nullptr, false});
    slots.push_back({"adapter.up.bias", {w}, &BlockAdapters::up_bias, nullptr, false});
  }
  return slots;
}

torch::Tensor& SlotRef(BlockAdapters& block, const Slot& slot) {
  if (slot.pair != nullptr) {
    LoraPair& pair = block.*(slot.pair);
    return slot.is_b ? pair.b : pair.a;
  }
  return block.*(slot.member);
}

const torch::Tensor& SlotRef(const BlockAdapters& block, const Slot& slot) {
  return SlotRef(const_cast<BlockAdapters&>(block), slot);
}

struct TowerLayout {
  std::string prefix;
  int layers;
  int width;
  bool tuned;
  std::vector<BlockAdapters>* blocks;
};

std::string BlockPrefix(const std::string& tower_prefix, int i) {
  return tower_prefix + "resblocks." + std::to_string(i) + ".";
}

// Kaiming-uniform with a = sqrt(5) (PEFT's LoRA A init, nn.Linear's default): U(-1/sqrt(in), ..).
torch::Tensor InitialValue(const Slot& slot, at::Generator& gen) {
  const bool zero = slot.is_b || slot.suffix == "adapter.up.weight" ||
                    slot.suffix == "adapter.up.bias" || slot.suffix == "adapter.down.bias";
  if (zero) return torch::zeros(slot.shape);
  const double bound = 1.0 / std::sqrt(static_cast<double>(slot.shape.back()));
  return torch::rand(slot.shape, gen, torch::kFloat32) * (2 * bound) - bound;
}

}  // namespace

const char* PetKindName(PetKind kind) {
  switch (kind) {
    case PetKind::kNone: return "none";
    case PetKind::kLora: return "lora";
    case PetKind::kBottleneck: return "adapter";
  }
  return "none";
}

const char* TowerSelectionName(TowerSelection towers) {
  switch (towers) {
    case TowerSelection::kImage: return "image";
    case TowerSelection::kText: return "text";
    case TowerSelection::kBoth: return "both";
  }
  return "both";
}

StatusOr<PetKind> ParsePetKind(const std::string& name) {
  if (name == "none") return PetKind::kNone;
  if (name == "lora") return PetKind::kLora;
  if (name == "adapter" || name == "bottleneck") return PetKind::kBottleneck;
  return InvalidArgumentError("unknown PET kind '" + name + "' (expected none, lora or adapter)");
}

StatusOr<TowerSelection> ParseTowerSelection(const std::string& name) {
  if (name == "image") return TowerSelection::kImage;
  if (name == "text") return TowerSelection::kText;
  if (name == "both") return TowerSelection::kBoth;
  return InvalidArgumentError("unknown tower selection '" + name +
                              "' (expected image, text or both)");
}

std::map<std::string, std::string> PetOptions::ToMetadata() const {
  auto flag = [](bool b) { return std::string(b ? "1" : "0"); };
  return {{"pet.kind", PetKindName(kind)},
          {"pet.towers", TowerSelectionName(towers)},
          {"pet.lora_rank", std::to_string(lora_rank)},
          {"pet.lora_alpha", std::to_string(lora_alpha)},
          {"pet.lora_dropout", std::to_string(lora_dropout)},
          {"pet.lora_targets",
           flag(lora_attn_qkv) + flag(lora_attn_out) + flag(lora_mlp_fc) + flag(lora_mlp_proj)},
          {"pet.bottleneck_dim", std::to_string(bottleneck_dim)},
          {"pet.bottleneck_scale", std::to_string(bottleneck_scale)}};
}

StatusOr<PetOptions> PetOptions::FromMetadata(const std::map<std::string, std::string>& m) {
  auto get = [&](const std::string& key) -> StatusOr<std::string> {
    auto it = m.find(key);
    if (it == m.end()) return InvalidArgumentError("adapter metadata lacks '" + key + "'");
    return it->second;
  };
  PetOptions o;
  PERENNIAL_ASSIGN_OR_RETURN(std::string kind, get("pet.kind"));
  PERENNIAL_ASSIGN_OR_RETURN(o.kind, ParsePetKind(kind));
  PERENNIAL_ASSIGN_OR_RETURN(std::string towers, get("pet.towers"));
  PERENNIAL_ASSIGN_OR_RETURN(o.towers, ParseTowerSelection(towers));
  PERENNIAL_ASSIGN_OR_RETURN(std::string rank, get("pet.lora_rank"));
  PERENNIAL_ASSIGN_OR_RETURN(std::string alpha, get("pet.lora_alpha"));
  PERENNIAL_ASSIGN_OR_RETURN(std::string dropout, get("pet.lora_dropout"));
  PERENNIAL_ASSIGN_OR_RETURN(std::string targets, get("pet.lora_targets"));
  PERENNIAL_ASSIGN_OR_RETURN(std::string dim, get("pet.bottleneck_dim"));
  PERENNIAL_ASSIGN_OR_RETURN(std::string scale, get("pet.bottleneck_scale"));
  o.lora_rank = std::atoi(rank.c_str());
  o.lora_alpha = std::atof(alpha.c_str());
  o.lora_dropout = std::atof(dropout.c_str());
  if (targets.size() != 4) {
    return InvalidArgumentError("adapter metadata 'pet.lora_targets' malformed");
  }
  o.lora_attn_qkv = targets[0] == '1';
  o.lora_attn_out = targets[1] == '1';
  o.lora_mlp_fc = targets[2] == '1';
  o.lora_mlp_proj = targets[3] == '1';
  o.bottleneck_dim = std::atoi(dim.c_str());
  o.bottleneck_scale = std::atof(scale.c_str());
  PERENNIAL_RETURN_IF_ERROR(o.Validate());
  return o;
}

Status PetOptions::Validate() const {
  if (kind == PetKind::kLora) {
    if (lora_rank <= 0) return InvalidArgumentError("LoRA rank must be positive");
    if (!(lora_dropout >= 0 && lora_dropout < 1)) {
      return InvalidArgumentError("LoRA dropout must be in [0, 1)");
    }
    if (!lora_attn_qkv && !lora_attn_out && !lora_mlp_fc && !lora_mlp_proj) {
      return InvalidArgumentError("LoRA needs at least one target map");
    }
  }
  if (kind == PetKind::kBottleneck && bottleneck_dim <= 0) {
    return InvalidArgumentError("bottleneck adapter width must be positive");
  }
  return OkStatus();
}

namespace {

std::vector<TowerLayout> Towers(const ClipConfig& c, const PetOptions& o,
                                std::vector<BlockAdapters>* image,
                                std::vector<BlockAdapters>* text) {
  return {{"visual.transformer.", c.vision_layers, c.vision_width, o.tunes_image(), image},
          {"transformer.", c.text_layers, c.text_width, o.tunes_text(), text}};
}

}  // namespace

StatusOr<Adapters> Adapters::Create(const ClipConfig& config, const PetOptions& options,
                                    uint64_t seed, torch::Device device) {
  PERENNIAL_RETURN_IF_ERROR(options.Validate());
  Adapters adapters;
  adapters.options_ = options;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (TowerLayout& tower : Towers(config, options, &adapters.image_, &adapters.text_)) {
    if (!tower.tuned) continue;
    tower.blocks->resize(tower.layers);
    for (BlockAdapters& block : *tower.blocks) {
      for (const Slot& slot : SlotsFor(options, tower.width)) {
        SlotRef(block, slot) = InitialValue(slot, gen).to(device).requires_grad_(true);
      }
    }
  }
  return adapters;
}

std::vector<std::pair<std::string, torch::Tensor>> Adapters::NamedTensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  const std::pair<const char*, const std::vector<BlockAdapters>*> towers[] = {
      {"visual.transformer.", &image_}, {"transformer.", &text_}};
  for (const auto& [prefix, blocks] : towers) {
    for (size_t i = 0; i < blocks->size(); ++i) {
      // Names do not depend on the width; shapes are not used here.
      for (const Slot& slot : SlotsFor(options_, /*w=*/1)) {
        named.emplace_back(BlockPrefix(prefix, static_cast<int>(i)) + slot.suffix,
                           SlotRef((*blocks)[i], slot));
      }
    }
  }
  return named;
}

std::vector<torch::Tensor> Adapters::Parameters() const {
  std::vector<torch::Tensor> params;
  for (auto& [name, tensor] : NamedTensors()) params.push_back(tensor);
  return params;
}

int64_t Adapters::ParameterCount() const {
  int64_t n = 0;
  for (const torch::Tensor& t : Parameters()) n += t.numel();
  return n;
}

StatusOr<Adapters> Adapters::FromNamedTensors(
    const ClipConfig& config, const PetOptions& options,
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  PERENNIAL_RETURN_IF_ERROR(options.Validate());
  std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
  Adapters adapters;
  adapters.options_ = options;
  for (TowerLayout& tower : Towers(config, options, &adapters.image_, &adapters.text_)) {
    if (!tower.tuned) continue;
    tower.blocks->resize(tower.layers);
    for (int i = 0; i < tower.layers; ++i) {
      for (const Slot& slot : SlotsFor(options, tower.width)) {
        const std::string name = BlockPrefix(tower.prefix, i) + slot.suffix;
        auto it = by_name.find(name);
        if (it == by_name.end()) {
          return InvalidArgumentError("adapter tensor '" + name + "' missing");
        }
        if (it->second.sizes().vec() != slot.shape) {
          return InvalidArgumentError("adapter tensor '" + name + "' has shape " +
                                      c10::str(it->second.sizes()) + ", expected " +
                                      c10::str(c10::IntArrayRef(slot.shape)));
        }
        SlotRef((*tower.blocks)[i], slot) = it->second.to(torch::kFloat32).clone();
        by_name.erase(it);
      }
    }
  }
  if (!by_name.empty()) {
    return InvalidArgumentError("unexpected adapter tensor '" + by_name.begin()->first + "'");
  }
  return adapters;
}

namespace {

void MapTensors(BlockAdapters& block,
                const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  for (torch::Tensor* t :
       {&block.qkv.a, &block.qkv.b, &block.out.a, &block.out.b, &block.fc.a, &block.fc.b,
        &block.proj.a, &block.proj.b, &block.merged_qkv, &block.merged_out, &block.merged_fc,
        &block.merged_proj, &block.down_weight, &block.down_bias, &block.up_weight,
        &block.up_bias}) {
    if (t->defined()) *t = fn(*t);
  }
}

}  // namespace

Adapters Adapters::Snapshot() const {
  Adapters copy = *this;
  for (auto* blocks : {&copy.image_, &copy.text_}) {
    for (BlockAdapters& block : *blocks) {
      MapTensors(block, [](const torch::Tensor& t) { return t.detach().clone(); });
    }
  }
  return copy;
}

Adapters Adapters::To(torch::Device device) const {
  Adapters copy = *this;
  for (auto* blocks : {&copy.image_, &copy.text_}) {
    for (BlockAdapters& block : *blocks) {
      MapTensors(block, [device](const torch::Tensor& t) { return t.to(device); });
      block.packed_qkv = block.packed_out = block.packed_fc = block.packed_proj = PackedLinear();
    }
  }
  return copy;
}

}  // namespace perennial
