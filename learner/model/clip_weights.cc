#include "learner/model/clip_weights.h"

#include <fcntl.h>
#include <torch/script.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "learner/base/torch_status.h"
#include "learner/model/safetensors.h"

namespace perennial {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string ShapeString(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Entries that the reference's TorchScript archives carry besides the weights (clip.py's
// build_model deletes them before load_state_dict).
bool IsReferenceExtra(const std::string& key) {
  return key == "input_resolution" || key == "context_length" || key == "vocab_size";
}

// ---- Hugging Face -> OpenAI ----

// Names inside one encoder layer, HF -> OpenAI (q/k/v are handled separately).
const std::pair<const char*, const char*> kLayerRenames[] = {
    {"self_attn.out_proj.weight", "attn.out_proj.weight"},
    {"self_attn.out_proj.bias", "attn.out_proj.bias"},
    {"layer_norm1.weight", "ln_1.weight"},
    {"layer_norm1.bias", "ln_1.bias"},
    {"layer_norm2.weight", "ln_2.weight"},
    {"layer_norm2.bias", "ln_2.bias"},
    {"mlp.fc1.weight", "mlp.c_fc.weight"},
    {"mlp.fc1.bias", "mlp.c_fc.bias"},
    {"mlp.fc2.weight", "mlp.c_proj.weight"},
    {"mlp.fc2.bias", "mlp.c_proj.bias"},
};

const std::pair<const char*, const char*> kTopRenames[] = {
    {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
    {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
    {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
    {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"},  // sic: HF's spelling
    {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"},
    {"vision_model.post_layernorm.weight", "visual.ln_post.weight"},
    {"vision_model.post_layernorm.bias", "visual.ln_post.bias"},
    {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
    {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
    {"text_model.final_layer_norm.weight", "ln_final.weight"},
    {"text_model.final_layer_norm.bias", "ln_final.bias"},
    {"logit_scale", "logit_scale"},
};

// [e, w] Linear weights in HF; [w, e] matrices in OpenAI.
const std::pair<const char*, const char*> kTransposed[] = {
    {"visual_projection.weight", "visual.proj"},
    {"text_projection.weight", "text_projection"},
};

bool IsHfIgnored(const std::string& key) {
  return key == "vision_model.embeddings.position_ids" ||
         key == "text_model.embeddings.position_ids";
}

bool LooksLikeHuggingFace(const TensorMap& tensors) {
  for (const auto& [key, t] : tensors) {
    if (StartsWith(key, "vision_model.") || StartsWith(key, "text_model.") ||
        key == "visual_projection.weight" || key == "text_projection.weight") {
      return true;
    }
  }
  return false;
}

// q, k, v weights and biases of one layer, keyed "weight"/"bias" -> {q, k, v}.
struct QkvParts {
  std::map<std::string, std::array<torch::Tensor, 3>> parts;
  std::string layer_key;  // HF prefix of the layer, for error messages
};

// Splits "prefix{i}.rest" into i and rest; false if there is no such number.
bool SplitLayer(const std::string& key, const std::string& prefix, std::string* index,
                std::string* rest) {
  if (!StartsWith(key, prefix)) return false;
  const size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return false;
  *index = key.substr(prefix.size(), dot - prefix.size());
  for (char c : *index) {
    if (c < '0' || c > '9') return false;
  }
  if (index->size() > 1 && (*index)[0] == '0') return false;
  *rest = key.substr(dot + 1);
  return true;
}

// Maps one HF encoder-layer key; returns false if `rest` is not a known layer tensor.
bool MapLayerKey(const std::string& rest, const std::string& out_prefix, const torch::Tensor& t,
                 TensorMap* out, QkvParts* qkv) {
  for (const auto& [hf, openai] : kLayerRenames) {
    if (rest == hf) {
      (*out)[out_prefix + openai] = t;
      return true;
    }
  }
  static const char* kQkv[] = {"q", "k", "v"};
  for (int j = 0; j < 3; ++j) {
    for (const char* kind : {"weight", "bias"}) {
      if (rest == std::string("self_attn.") + kQkv[j] + "_proj." + kind) {
        qkv->parts[kind][j] = t;
        return true;
      }
    }
  }
  return false;
}

Status ConcatQkv(const std::string& file, const std::string& out_prefix, const QkvParts& qkv,
                 TensorMap* out) {
  static const char* kQkv[] = {"q", "k", "v"};
  for (const char* kind : {"weight", "bias"}) {
    auto it = qkv.parts.find(kind);
    for (int j = 0; j < 3; ++j) {
      if (it == qkv.parts.end() || !it->second[j].defined()) {
        return InvalidArgumentError(file + ": missing tensor '" + qkv.layer_key + "self_attn." +
                                    kQkv[j] + "_proj." + kind + "'");
      }
    }
    const auto& p = it->second;
    for (int j = 1; j < 3; ++j) {
      if (p[j].sizes() != p[0].sizes() || p[j].scalar_type() != p[0].scalar_type()) {
        return InvalidArgumentError(file + ": tensor '" + qkv.layer_key + "self_attn." + kQkv[j] +
                                    "_proj." + kind + "' has shape " + ShapeString(p[j].sizes()) +
                                    " / dtype unlike q_proj's " + ShapeString(p[0].sizes()));
      }
    }
    if (p[0].dim() == 0) {
      return InvalidArgumentError(file + ": tensor '" + qkv.layer_key + "self_attn.q_proj." + kind +
                                  "' is a scalar");
    }
    const std::string name =
        out_prefix + (std::string(kind) == "weight" ? "attn.in_proj_weight" : "attn.in_proj_bias");
    PERENNIAL_RETURN_IF_ERROR(CatchTorch(file + ": concatenating q/k/v into " + name, [&] {
      (*out)[name] = torch::cat({p[0], p[1], p[2]}, 0).contiguous();
      return OkStatus();
    }));
  }
  return OkStatus();
}

// ---- completeness and shapes ----

// Layer indices present under `prefix` ("visual.transformer.resblocks.").
StatusOr<int64_t> CountLayers(const TensorMap& tensors, const std::string& prefix,
                              const std::string& file) {
  int64_t count = 0;
  for (const auto& [key, t] : tensors) {
    std::string index, rest;
    if (!StartsWith(key, prefix)) continue;
    if (!SplitLayer(key, prefix, &index, &rest) || index.size() > 6) {
      return InvalidArgumentError(file + ": unexpected tensor '" + key + "'");
    }
    count = std::max<int64_t>(count, std::stoll(index) + 1);
  }
  return count;
}

const char* const kBlockKeys[] = {
    "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
    "ln_1.weight",         "ln_1.bias",         "mlp.c_fc.weight",      "mlp.c_fc.bias",
    "mlp.c_proj.weight",   "mlp.c_proj.bias",   "ln_2.weight",          "ln_2.bias",
};

std::vector<std::string> ExpectedKeys(int64_t vision_layers, int64_t text_layers) {
  std::vector<std::string> keys = {"visual.class_embedding",
                                   "visual.positional_embedding",
                                   "visual.proj",
                                   "visual.conv1.weight",
                                   "visual.ln_pre.weight",
                                   "visual.ln_pre.bias",
                                   "visual.ln_post.weight",
                                   "visual.ln_post.bias",
                                   "positional_embedding",
                                   "text_projection",
                                   "logit_scale",
                                   "token_embedding.weight",
                                   "ln_final.weight",
                                   "ln_final.bias"};
  for (int64_t i = 0; i < vision_layers; ++i) {
    for (const char* k : kBlockKeys) {
      keys.push_back("visual.transformer.resblocks." + std::to_string(i) + "." + k);
    }
  }
  for (int64_t i = 0; i < text_layers; ++i) {
    for (const char* k : kBlockKeys) {
      keys.push_back("transformer.resblocks." + std::to_string(i) + "." + k);
    }
  }
  return keys;
}

// Shape checks against a file name; each error names the tensor and says what was expected.
class ShapeChecker {
 public:
  ShapeChecker(const TensorMap& tensors, const std::string& file)
      : tensors_(tensors), file_(file) {}

  const torch::Tensor& Get(const std::string& key) const { return tensors_.at(key); }

  Status Rank(const std::string& key, int64_t rank) const {
    const torch::Tensor& t = Get(key);
    if (t.dim() != rank) {
      return InvalidArgumentError(file_ + ": tensor '" + key + "' has shape " +
                                  ShapeString(t.sizes()) + ", expected " + std::to_string(rank) +
                                  " dimensions");
    }
    return OkStatus();
  }

  Status Shape(const std::string& key, std::vector<int64_t> expected,
               const std::string& why) const {
    const torch::Tensor& t = Get(key);
    if (t.sizes() != at::IntArrayRef(expected)) {
      return InvalidArgumentError(file_ + ": tensor '" + key + "' has shape " +
                                  ShapeString(t.sizes()) + ", expected " + ShapeString(expected) +
                                  " (" + why + ")");
    }
    return OkStatus();
  }

  // Checks one residual block of width `width`; the MLP width is taken from the first block and
  // must be the same in the others.
  Status Block(const std::string& prefix, int64_t width, int64_t* mlp_width,
               const std::string& why) const {
    const std::string p = prefix;
    if (*mlp_width == 0) {
      PERENNIAL_RETURN_IF_ERROR(Rank(p + "mlp.c_fc.weight", 2));
      *mlp_width = Get(p + "mlp.c_fc.weight").size(0);
      if (*mlp_width <= 0) {
        return InvalidArgumentError(file_ + ": tensor '" + p + "mlp.c_fc.weight' is empty");
      }
    }
    const int64_t h = *mlp_width;
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "attn.in_proj_weight", {3 * width, width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "attn.in_proj_bias", {3 * width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "attn.out_proj.weight", {width, width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "attn.out_proj.bias", {width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "ln_1.weight", {width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "ln_1.bias", {width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "ln_2.weight", {width}, why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "ln_2.bias", {width}, why));
    const std::string mlp_why = why + ", MLP width " + std::to_string(h);
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "mlp.c_fc.weight", {h, width}, mlp_why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "mlp.c_fc.bias", {h}, mlp_why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "mlp.c_proj.weight", {width, h}, mlp_why));
    PERENNIAL_RETURN_IF_ERROR(Shape(p + "mlp.c_proj.bias", {width}, mlp_why));
    return OkStatus();
  }

 private:
  const TensorMap& tensors_;
  const std::string& file_;
};

StatusOr<int64_t> HeadCount(const std::map<std::string, std::string>& metadata,
                            const std::string& key, int64_t width, const std::string& file) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::max<int64_t>(1, width / 64);
  const std::string& s = it->second;
  int64_t heads = 0;
  bool ok = !s.empty() && s.size() <= 6;
  for (char c : s) {
    if (c < '0' || c > '9') ok = false;
  }
  if (ok) heads = std::stoll(s);
  if (!ok || heads <= 0 || width % heads != 0) {
    return InvalidArgumentError(file + ": metadata \"" + key + "\" = \"" + s +
                                "\" is not a head count dividing the width " +
                                std::to_string(width));
  }
  return heads;
}

Status CheckVision(const ShapeChecker& c, ClipDims* d) {
  PERENNIAL_RETURN_IF_ERROR(c.Rank("visual.conv1.weight", 4));
  const torch::Tensor& conv = c.Get("visual.conv1.weight");
  const int64_t w = conv.size(0), p = conv.size(2);
  const std::string why = "vision width " + std::to_string(w) + " and patch " + std::to_string(p) +
                          " from visual.conv1.weight";
  if (w <= 0 || p <= 0) return c.Shape("visual.conv1.weight", {1, 3, 1, 1}, "non-empty");
  PERENNIAL_RETURN_IF_ERROR(c.Shape("visual.conv1.weight", {w, 3, p, p}, "RGB, square patches"));
  PERENNIAL_RETURN_IF_ERROR(c.Shape("visual.class_embedding", {w}, why));
  PERENNIAL_RETURN_IF_ERROR(c.Rank("visual.positional_embedding", 2));
  const int64_t positions = c.Get("visual.positional_embedding").size(0);
  int64_t grid = 0;
  while ((grid + 1) * (grid + 1) + 1 <= positions) ++grid;
  if (grid == 0 || grid * grid + 1 != positions) {
    return c.Shape("visual.positional_embedding",
                   {(grid > 0 ? grid : 1) * (grid > 0 ? grid : 1) + 1, w},
                   "1 + grid x grid positions");
  }
  PERENNIAL_RETURN_IF_ERROR(c.Shape("visual.positional_embedding", {positions, w}, why));
  for (const char* k : {"visual.ln_pre.weight", "visual.ln_pre.bias", "visual.ln_post.weight",
                        "visual.ln_post.bias"}) {
    PERENNIAL_RETURN_IF_ERROR(c.Shape(k, {w}, why));
  }
  PERENNIAL_RETURN_IF_ERROR(c.Rank("visual.proj", 2));
  const int64_t e = c.Get("visual.proj").size(1);
  PERENNIAL_RETURN_IF_ERROR(c.Shape("visual.proj", {w, e}, why));
  for (int64_t i = 0; i < d->vision_layers; ++i) {
    PERENNIAL_RETURN_IF_ERROR(c.Block("visual.transformer.resblocks." + std::to_string(i) + ".", w,
                                      &d->vision_mlp_width, why));
  }
  d->vision_width = w;
  d->patch_size = p;
  d->grid_size = grid;
  d->image_resolution = p * grid;
  d->embed_dim = e;
  return OkStatus();
}

Status CheckText(const ShapeChecker& c, ClipDims* d) {
  PERENNIAL_RETURN_IF_ERROR(c.Rank("ln_final.weight", 1));
  const int64_t t = c.Get("ln_final.weight").size(0);
  const std::string why = "text width " + std::to_string(t) + " from ln_final.weight";
  PERENNIAL_RETURN_IF_ERROR(c.Shape("ln_final.bias", {t}, why));
  PERENNIAL_RETURN_IF_ERROR(c.Rank("token_embedding.weight", 2));
  const int64_t vocab = c.Get("token_embedding.weight").size(0);
  PERENNIAL_RETURN_IF_ERROR(c.Shape("token_embedding.weight", {vocab, t}, why));
  PERENNIAL_RETURN_IF_ERROR(c.Rank("positional_embedding", 2));
  const int64_t context = c.Get("positional_embedding").size(0);
  PERENNIAL_RETURN_IF_ERROR(c.Shape("positional_embedding", {context, t}, why));
  PERENNIAL_RETURN_IF_ERROR(
      c.Shape("text_projection", {t, d->embed_dim},
              why + ", embedding width " + std::to_string(d->embed_dim) + " from visual.proj"));
  PERENNIAL_RETURN_IF_ERROR(c.Shape("logit_scale", {}, "a scalar"));
  if (vocab <= 0 || context <= 0 || t <= 0) {
    return c.Shape("token_embedding.weight", {1, 1}, "non-empty vocabulary, context and width");
  }
  for (int64_t i = 0; i < d->text_layers; ++i) {
    PERENNIAL_RETURN_IF_ERROR(
        c.Block("transformer.resblocks." + std::to_string(i) + ".", t, &d->text_mlp_width, why));
  }
  d->text_width = t;
  d->vocab_size = vocab;
  d->context_length = context;
  return OkStatus();
}

// ---- file formats ----

enum class FileKind { kZip, kSafetensors, kUnknown };

// Sniffs the first bytes: a zip archive (TorchScript) starts "PK\3\4"; a safetensors file has
// an 8-byte length and then its JSON header's '{'.
StatusOr<FileKind> SniffFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string what = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? NotFoundError(what) : FailedPreconditionError(what);
  }
  char head[9] = {0};
  const ssize_t got = pread(fd, head, sizeof(head), 0);
  close(fd);
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return FileKind::kZip;
  if (got == 9 && head[8] == '{') return FileKind::kSafetensors;
  return FileKind::kUnknown;
}

StatusOr<TensorMap> LoadTorchScript(const std::string& path) {
  TensorMap out;
  try {
    torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    for (const auto& p : module.named_parameters(/*recurse=*/true)) {
      out[p.name] = p.value.detach().contiguous();
    }
    for (const auto& b : module.named_buffers(/*recurse=*/true)) {
      out[b.name] = b.value.detach().contiguous();
    }
  } catch (...) {
    return StatusFromCurrentException(
        path +
            ": not a loadable TorchScript archive (a state dict saved with torch.save is not "
            "supported: convert it to safetensors)",
        StatusCode::kInvalidArgument);
  }
  return out;
}

}  // namespace

const char* WeightFormatName(WeightFormat format) {
  switch (format) {
    case WeightFormat::kOpenAiSafetensors: return "openai-safetensors";
    case WeightFormat::kHuggingFaceSafetensors: return "huggingface-safetensors";
    case WeightFormat::kTorchScript: return "torchscript";
  }
  return "unknown";
}

StatusOr<TensorMap> ConvertHuggingFaceClip(const TensorMap& hf_tensors,
                                           const std::string& name_for_errors) {
  const std::string& file = name_for_errors;
  TensorMap out;
  std::map<std::string, QkvParts> qkv;  // OpenAI layer prefix -> parts
  for (const auto& [key, t] : hf_tensors) {
    if (IsHfIgnored(key)) continue;
    bool mapped = false;
    for (const auto& [hf, openai] : kTopRenames) {
      if (key == hf) {
        out[openai] = t;
        mapped = true;
      }
    }
    for (const auto& [hf, openai] : kTransposed) {
      if (key != hf) continue;
      if (t.dim() != 2) {
        return InvalidArgumentError(file + ": tensor '" + key + "' has shape " +
                                    ShapeString(t.sizes()) + ", expected 2 dimensions");
      }
      out[openai] = t.t().contiguous();
      mapped = true;
    }
    std::string index, rest;
    for (const auto& [hf_prefix, openai_prefix] :
         {std::pair<std::string, std::string>{"vision_model.encoder.layers.",
                                              "visual.transformer.resblocks."},
          std::pair<std::string, std::string>{"text_model.encoder.layers.",
                                              "transformer.resblocks."}}) {
      if (mapped || !SplitLayer(key, hf_prefix, &index, &rest)) continue;
      const std::string out_prefix = openai_prefix + index + ".";
      QkvParts& parts = qkv[out_prefix];
      parts.layer_key = hf_prefix + index + ".";
      mapped = MapLayerKey(rest, out_prefix, t, &out, &parts);
    }
    if (!mapped) {
      return InvalidArgumentError(file + ": unexpected tensor '" + key +
                                  "' in a Hugging Face CLIPModel file");
    }
  }
  for (const auto& [prefix, parts] : qkv) {
    PERENNIAL_RETURN_IF_ERROR(ConcatQkv(file, prefix, parts, &out));
  }
  return out;
}

StatusOr<ClipDims> CheckClipTensors(const TensorMap& tensors,
                                    const std::map<std::string, std::string>& metadata,
                                    const std::string& name_for_errors) {
  const std::string& file = name_for_errors;
  for (const auto& [key, t] : tensors) {
    if (StartsWith(key, "visual.layer") || StartsWith(key, "visual.attnpool.") ||
        StartsWith(key, "visual.bn1.")) {
      return InvalidArgumentError(file + ": ResNet image towers are not supported (found tensor '" +
                                  key + "'); use a ViT CLIP");
    }
  }
  if (tensors.count("visual.conv1.weight") == 0 && tensors.count("token_embedding.weight") == 0) {
    const std::string first = tensors.empty() ? "none" : "'" + tensors.begin()->first + "'";
    return InvalidArgumentError(file +
                                ": not a CLIP checkpoint: no tensor 'visual.conv1.weight' "
                                "or 'token_embedding.weight' (first tensor: " +
                                first + ")");
  }
  ClipDims dims;
  PERENNIAL_ASSIGN_OR_RETURN(dims.vision_layers,
                             CountLayers(tensors, "visual.transformer.resblocks.", file));
  PERENNIAL_ASSIGN_OR_RETURN(dims.text_layers,
                             CountLayers(tensors, "transformer.resblocks.", file));
  const std::vector<std::string> expected = ExpectedKeys(std::max<int64_t>(dims.vision_layers, 1),
                                                         std::max<int64_t>(dims.text_layers, 1));
  for (const std::string& key : expected) {
    if (tensors.count(key) == 0) {
      return InvalidArgumentError(file + ": missing tensor '" + key + "'");
    }
  }
  const std::set<std::string> expected_set(expected.begin(), expected.end());
  for (const auto& [key, t] : tensors) {
    if (expected_set.count(key) == 0) {
      return InvalidArgumentError(file + ": unexpected tensor '" + key + "'");
    }
    if (!t.defined() || !t.is_floating_point()) {
      return InvalidArgumentError(
          file + ": tensor '" + key + "' has dtype " +
          (t.defined() ? std::string(c10::toString(t.scalar_type())) : std::string("undefined")) +
          ", expected a floating-point type");
    }
  }
  const ShapeChecker checker(tensors, file);
  PERENNIAL_RETURN_IF_ERROR(CheckVision(checker, &dims));
  PERENNIAL_RETURN_IF_ERROR(CheckText(checker, &dims));
  PERENNIAL_ASSIGN_OR_RETURN(dims.vision_heads,
                             HeadCount(metadata, "vision_heads", dims.vision_width, file));
  PERENNIAL_ASSIGN_OR_RETURN(dims.text_heads,
                             HeadCount(metadata, "text_heads", dims.text_width, file));
  return dims;
}

StatusOr<ClipWeights> LoadClipWeights(const std::string& path) {
  ClipWeights weights;
  weights.path = path;
  PERENNIAL_ASSIGN_OR_RETURN(const FileKind kind, SniffFile(path));
  TensorMap raw;
  if (kind == FileKind::kUnknown) {
    return InvalidArgumentError(path + ": neither a safetensors file nor a TorchScript archive");
  }
  if (kind == FileKind::kZip) {
    weights.format = WeightFormat::kTorchScript;
    PERENNIAL_ASSIGN_OR_RETURN(raw, LoadTorchScript(path));
  } else {
    PERENNIAL_ASSIGN_OR_RETURN(TensorFile file, ReadSafetensors(path));
    for (auto& [name, t] : file.tensors) raw[name] = std::move(t);
    weights.metadata = std::move(file.metadata);
    weights.format = LooksLikeHuggingFace(raw) ? WeightFormat::kHuggingFaceSafetensors
                                               : WeightFormat::kOpenAiSafetensors;
  }
  if (weights.format == WeightFormat::kHuggingFaceSafetensors) {
    PERENNIAL_ASSIGN_OR_RETURN(raw, ConvertHuggingFaceClip(raw, path));
  }
  for (auto it = raw.begin(); it != raw.end();) {
    it = IsReferenceExtra(it->first) ? raw.erase(it) : std::next(it);
  }
  // Some exporters store logit_scale as [1]; the canonical form is 0-dim.
  auto scale = raw.find("logit_scale");
  if (scale != raw.end() && scale->second.dim() == 1 && scale->second.numel() == 1) {
    scale->second = scale->second.reshape({});
  }
  PERENNIAL_ASSIGN_OR_RETURN(weights.dims, CheckClipTensors(raw, weights.metadata, path));
  weights.tensors = std::move(raw);
  return weights;
}

Status SaveClipWeights(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  PERENNIAL_RETURN_IF_ERROR(CheckClipTensors(tensors, metadata, path).status());
  return WriteSafetensors(path, {tensors.begin(), tensors.end()}, metadata);
}

}  // namespace perennial
