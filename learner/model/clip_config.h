// File: learner/model/clip_config.h
//
// The shape of a ViT CLIP model, inferred from its weights the way the reference build_model()
// does, so that any OpenAI / open_clip / Hugging Face ViT checkpoint loads without a config file.
#ifndef PERENNIAL_LEARNER_MODEL_CLIP_CONFIG_H_
#define PERENNIAL_LEARNER_MODEL_CLIP_CONFIG_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "learner/base/status.h"

namespace perennial {

// The MLP non-linearity. OpenAI's weights were trained with QuickGELU (x * sigmoid(1.702 x));
// most open_clip LAION models and perennial's own pretrained model use exact GELU. The weights
// cannot tell, so files say it in their metadata ("activation": "gelu" | "quick_gelu").
enum class Activation { kQuickGelu, kGelu };

const char* ActivationName(Activation activation);

struct ClipConfig {
  int embed_dim = 0;         // width of the joint image-text space
  int image_resolution = 0;  // input side in pixels (patch_size * grid)
  int vision_patch_size = 0;
  int vision_width = 0;
  int vision_layers = 0;
  int vision_heads = 0;
  int context_length = 0;  // text positions (77 for CLIP)
  int vocab_size = 0;      // token table rows (49408 for CLIP's BPE)
  int text_width = 0;
  int text_layers = 0;
  int text_heads = 0;
  Activation activation = Activation::kQuickGelu;

  int vision_grid() const { return image_resolution / vision_patch_size; }
  std::string ToString() const;
};

// Infers the configuration from tensors in the OpenAI key layout ("visual.conv1.weight", ...).
// Head counts follow the reference (width / 64, at least 1) unless the metadata has
// "vision_heads" / "text_heads"; the activation comes from metadata "activation" and otherwise
// defaults to QuickGELU (OpenAI's). Errors name the missing or inconsistent tensor.
StatusOr<ClipConfig> InferClipConfig(const std::map<std::string, torch::Tensor>& tensors,
                                     const std::map<std::string, std::string>& metadata);

// The metadata entries that make InferClipConfig() reproduce `config` exactly.
std::map<std::string, std::string> ClipConfigMetadata(const ClipConfig& config);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CLIP_CONFIG_H_
