#include "learner/model/clip_init.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace perennial {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

ClipConfig OpenAiViT(int patch, int resolution, int vision_width, int vision_layers, int text_width,
                     int embed_dim) {
  ClipConfig c;
  c.embed_dim = embed_dim;
  c.image_resolution = resolution;
  c.vision_patch_size = patch;
  c.vision_width = vision_width;
  c.vision_layers = vision_layers;
  c.vision_heads = vision_width / 64;
  c.context_length = 77;
  c.vocab_size = 49408;
  c.text_width = text_width;
  c.text_layers = 12;
  c.text_heads = text_width / 64;
  c.activation = Activation::kQuickGelu;
  return c;
}

class Initializer {
 public:
  explicit Initializer(uint64_t seed) : gen_(at::detail::createCPUGenerator(seed)) {}
  torch::Tensor Normal(std::vector<int64_t> shape, double std) {
    return torch::randn(shape, gen_, torch::kFloat32) * std;
  }

 private:
  at::Generator gen_;
};

void InitTransformer(TensorMap& t, Initializer& init, const std::string& prefix, int layers,
                     int64_t w) {
  const double attn_std = std::pow(w, -0.5);
  const double proj_std = attn_std * std::pow(2.0 * layers, -0.5);
  const double fc_std = std::pow(2.0 * w, -0.5);
  for (int i = 0; i < layers; ++i) {
    const std::string p = prefix + "resblocks." + std::to_string(i) + ".";
    for (const char* ln : {"ln_1", "ln_2"}) {
      t[p + ln + ".weight"] = torch::ones({w});
      t[p + ln + ".bias"] = torch::zeros({w});
    }
    t[p + "attn.in_proj_weight"] = init.Normal({3 * w, w}, attn_std);
    t[p + "attn.in_proj_bias"] = torch::zeros({3 * w});
    t[p + "attn.out_proj.weight"] = init.Normal({w, w}, proj_std);
    t[p + "attn.out_proj.bias"] = torch::zeros({w});
    t[p + "mlp.c_fc.weight"] = init.Normal({4 * w, w}, fc_std);
    t[p + "mlp.c_fc.bias"] = torch::zeros({4 * w});
    t[p + "mlp.c_proj.weight"] = init.Normal({w, 4 * w}, proj_std);
    t[p + "mlp.c_proj.bias"] = torch::zeros({w});
  }
}

}  // namespace

StatusOr<ClipConfig> NamedClipConfig(const std::string& name) {
  if (name == "ViT-B/32") return OpenAiViT(32, 224, 768, 12, 512, 512);
  if (name == "ViT-B/16") return OpenAiViT(16, 224, 768, 12, 512, 512);
  if (name == "ViT-L/14") {
    ClipConfig c = OpenAiViT(14, 224, 1024, 24, 768, 768);
    return c;
  }
  return InvalidArgumentError("unknown architecture '" + name +
                              "' (known: ViT-B/32, ViT-B/16, ViT-L/14)");
}

TensorMap InitClipTensors(const ClipConfig& c, uint64_t seed) {
  Initializer init(seed);
  TensorMap t;
  const int64_t vw = c.vision_width, tw = c.text_width, e = c.embed_dim;
  const int64_t grid = c.vision_grid();
  const double vscale = std::pow(vw, -0.5);
  // The reference leaves conv1 at PyTorch's default (Kaiming-uniform); a normal of the same
  // variance (fan_in = 3 p^2) serves as well for training from scratch.
  const double conv_std = 1.0 / std::sqrt(3.0 * 3 * c.vision_patch_size * c.vision_patch_size);
  t["visual.conv1.weight"] =
      init.Normal({vw, 3, c.vision_patch_size, c.vision_patch_size}, conv_std);
  t["visual.class_embedding"] = init.Normal({vw}, vscale);
  t["visual.positional_embedding"] = init.Normal({grid * grid + 1, vw}, vscale);
  for (const char* ln : {"visual.ln_pre", "visual.ln_post", "ln_final"}) {
    const int64_t w = std::string(ln) == "ln_final" ? tw : vw;
    t[std::string(ln) + ".weight"] = torch::ones({w});
    t[std::string(ln) + ".bias"] = torch::zeros({w});
  }
  InitTransformer(t, init, "visual.transformer.", c.vision_layers, vw);
  t["visual.proj"] = init.Normal({vw, e}, vscale);
  t["token_embedding.weight"] = init.Normal({c.vocab_size, tw}, 0.02);
  t["positional_embedding"] = init.Normal({c.context_length, tw}, 0.01);
  InitTransformer(t, init, "transformer.", c.text_layers, tw);
  t["text_projection"] = init.Normal({tw, e}, std::pow(tw, -0.5));
  t["logit_scale"] = torch::tensor(std::log(1 / 0.07), torch::kFloat32).reshape({});
  return t;
}

}  // namespace perennial
