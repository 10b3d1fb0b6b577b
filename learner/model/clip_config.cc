#include "learner/model/clip_config.h"

#include <cmath>
#include <set>
#include <sstream>

namespace perennial {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

StatusOr<torch::Tensor> Find(const TensorMap& tensors, const std::string& key, int64_t dim) {
  auto it = tensors.find(key);
  if (it == tensors.end()) return InvalidArgumentError("missing tensor '" + key + "'");
  if (it->second.dim() != dim) {
    return InvalidArgumentError("tensor '" + key + "' has " + std::to_string(it->second.dim()) +
                                " dimensions, expected " + std::to_string(dim));
  }
  return it->second;
}

// Counts distinct block indices under "<prefix><i>.".
int CountBlocks(const TensorMap& tensors, const std::string& prefix) {
  std::set<int> blocks;
  for (const auto& [key, tensor] : tensors) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    blocks.insert(std::atoi(key.c_str() + prefix.size()));
  }
  return static_cast<int>(blocks.size());
}

StatusOr<int> HeadsFor(const std::map<std::string, std::string>& metadata, const std::string& key,
                       int width) {
  auto it = metadata.find(key);
  int heads = std::max(1, width / 64);
  if (it != metadata.end()) heads = std::atoi(it->second.c_str());
  if (heads <= 0 || width % heads != 0) {
    return InvalidArgumentError("metadata '" + key + "' = " + std::to_string(heads) +
                                " does not divide the width " + std::to_string(width));
  }
  return heads;
}

}  // namespace

const char* ActivationName(Activation activation) {
  return activation == Activation::kGelu ? "gelu" : "quick_gelu";
}

std::string ClipConfig::ToString() const {
  std::ostringstream out;
  out << "ViT-" << vision_layers << "x" << vision_width << "/" << vision_patch_size << "@"
      << image_resolution << " text " << text_layers << "x" << text_width << " ctx "
      << context_length << " vocab " << vocab_size << " embed " << embed_dim << " "
      << ActivationName(activation);
  return out.str();
}

StatusOr<ClipConfig> InferClipConfig(const TensorMap& tensors,
                                     const std::map<std::string, std::string>& metadata) {
  if (tensors.count("visual.layer1.0.conv1.weight")) {
    return InvalidArgumentError("ResNet image towers are not supported (ViT CLIP only)");
  }
  ClipConfig c;
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor conv, Find(tensors, "visual.conv1.weight", 4));
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor vpos, Find(tensors, "visual.positional_embedding", 2));
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor proj, Find(tensors, "text_projection", 2));
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor tpos, Find(tensors, "positional_embedding", 2));
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor tok, Find(tensors, "token_embedding.weight", 2));
  PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor lnf, Find(tensors, "ln_final.weight", 1));

  c.vision_width = static_cast<int>(conv.size(0));
  c.vision_patch_size = static_cast<int>(conv.size(-1));
  const int64_t patches = vpos.size(0) - 1;
  const int grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(patches))));
  if (grid * grid != patches) {
    return InvalidArgumentError("visual.positional_embedding has " + std::to_string(vpos.size(0)) +
                                " rows, not a square grid plus the class token");
  }
  c.image_resolution = grid * c.vision_patch_size;
  c.vision_layers = CountBlocks(tensors, "visual.transformer.resblocks.");
  c.embed_dim = static_cast<int>(proj.size(1));
  c.context_length = static_cast<int>(tpos.size(0));
  c.vocab_size = static_cast<int>(tok.size(0));
  c.text_width = static_cast<int>(lnf.size(0));
  c.text_layers = CountBlocks(tensors, "transformer.resblocks.");
  if (c.vision_layers == 0 || c.text_layers == 0) {
    return InvalidArgumentError(
        "no transformer blocks found (visual.transformer.resblocks.* / "
        "transformer.resblocks.*)");
  }
  PERENNIAL_ASSIGN_OR_RETURN(c.vision_heads, HeadsFor(metadata, "vision_heads", c.vision_width));
  PERENNIAL_ASSIGN_OR_RETURN(c.text_heads, HeadsFor(metadata, "text_heads", c.text_width));
  auto act = metadata.find("activation");
  if (act != metadata.end()) {
    if (act->second == "gelu") {
      c.activation = Activation::kGelu;
    } else if (act->second != "quick_gelu") {
      return InvalidArgumentError("metadata 'activation' must be gelu or quick_gelu, not '" +
                                  act->second + "'");
    }
  }
  return c;
}

std::map<std::string, std::string> ClipConfigMetadata(const ClipConfig& config) {
  return {{"vision_heads", std::to_string(config.vision_heads)},
          {"text_heads", std::to_string(config.text_heads)},
          {"activation", ActivationName(config.activation)}};
}

}  // namespace perennial
