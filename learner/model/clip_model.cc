#include "learner/model/clip_model.h"

#include <algorithm>
#include <optional>

#include "learner/base/device_copy.h"
#include "learner/base/torch_status.h"
#include "learner/model/clip_weights.h"
#include "learner/model/fused_add_layer_norm.h"

namespace perennial {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

// Reads tensors out of an OpenAI-layout map, checking each one's shape and converting it to the
// model's device and dtype. The first error is kept and reported by status().
class TensorReader {
 public:
  TensorReader(const TensorMap& tensors, const ModelOptions& options)
      : tensors_(tensors), options_(options) {}

  torch::Tensor Take(const std::string& key, std::vector<int64_t> shape, bool keep_fp32 = false) {
    if (!status_.ok()) return {};
    auto it = tensors_.find(key);
    if (it == tensors_.end()) {
      status_ = InvalidArgumentError("missing tensor '" + key + "'");
      return {};
    }
    if (it->second.sizes().vec() != shape) {
      status_ =
          InvalidArgumentError("tensor '" + key + "' has shape " + c10::str(it->second.sizes()) +
                               ", expected " + c10::str(c10::IntArrayRef(shape)));
      return {};
    }
    const auto dtype = keep_fp32 ? torch::kFloat32 : options_.dtype;
    return it->second.to(options_.device, dtype).contiguous();
  }

  LayerNormWeights TakeLayerNorm(const std::string& prefix, int64_t width) {
    return {Take(prefix + ".weight", {width}), Take(prefix + ".bias", {width})};
  }

  TransformerWeights TakeTransformer(const std::string& prefix, int layers, int64_t w, int heads,
                                     Activation activation) {
    TransformerWeights t;
    t.heads = heads;
    t.activation = activation;
    for (int i = 0; i < layers; ++i) {
      const std::string p = prefix + "resblocks." + std::to_string(i) + ".";
      BlockWeights b;
      b.ln_1 = TakeLayerNorm(p + "ln_1", w);
      b.qkv = {
          Take(p + "attn.in_proj_weight", {3 * w, w}), Take(p + "attn.in_proj_bias", {3 * w}), {}};
      b.out = {Take(p + "attn.out_proj.weight", {w, w}), Take(p + "attn.out_proj.bias", {w}), {}};
      b.ln_2 = TakeLayerNorm(p + "ln_2", w);
      b.fc = {Take(p + "mlp.c_fc.weight", {4 * w, w}), Take(p + "mlp.c_fc.bias", {4 * w}), {}};
      b.proj = {Take(p + "mlp.c_proj.weight", {w, 4 * w}), Take(p + "mlp.c_proj.bias", {w}), {}};
      t.blocks.push_back(std::move(b));
    }
    return t;
  }

  const Status& status() const { return status_; }

 private:
  const TensorMap& tensors_;
  const ModelOptions& options_;
  Status status_;
};

void PutLayerNorm(TensorMap& out, const std::string& prefix, const LayerNormWeights& ln) {
  out[prefix + ".weight"] = ln.weight;
  out[prefix + ".bias"] = ln.bias;
}

void PutTransformer(TensorMap& out, const std::string& prefix, const TransformerWeights& t) {
  for (size_t i = 0; i < t.blocks.size(); ++i) {
    const std::string p = prefix + "resblocks." + std::to_string(i) + ".";
    const BlockWeights& b = t.blocks[i];
    PutLayerNorm(out, p + "ln_1", b.ln_1);
    out[p + "attn.in_proj_weight"] = b.qkv.weight;
    out[p + "attn.in_proj_bias"] = b.qkv.bias;
    out[p + "attn.out_proj.weight"] = b.out.weight;
    out[p + "attn.out_proj.bias"] = b.out.bias;
    PutLayerNorm(out, p + "ln_2", b.ln_2);
    out[p + "mlp.c_fc.weight"] = b.fc.weight;
    out[p + "mlp.c_fc.bias"] = b.fc.bias;
    out[p + "mlp.c_proj.weight"] = b.proj.weight;
    out[p + "mlp.c_proj.bias"] = b.proj.bias;
  }
}

// The shared-prefix path for any two or more texts, whose SOT at least they share: it also
// skips each text's positions after its own EOT (SharedPrefixTransformerForward), which the
// whole-sequence path runs to the longest one's. Bare labels (only SOT shared), ViT-B/32, 10
// Fashion-MNIST labels: 23.1 / 25.0 -> 15.6 / 12.2 ms fp32, 15.7 / 15.6 -> 14.8 / 9.0 ms bf16
// (session 25; before packing, prefixes under 3 tokens had saved less than they cost).
constexpr int64_t kMinSharedPrefix = 1;

// How many leading positions all of `ids` ([N, L], CPU) share, up to the earliest EOT (the rows
// the text tower reads must lie after the prefix). 0 for fewer than two texts.
int64_t SharedPrefixLength(const torch::Tensor& ids, const torch::Tensor& eot) {
  if (ids.size(0) < 2) return 0;
  const torch::Tensor same = ids.eq(ids.narrow(0, 0, 1)).all(0).contiguous();
  const int64_t limit = std::min(eot.min().item<int64_t>(), same.size(0));
  const bool* equal = same.data_ptr<bool>();
  int64_t length = 0;
  while (length < limit && equal[length]) ++length;
  return length;
}

}  // namespace

StatusOr<ClipModel> ClipModel::FromTensors(const TensorMap& tensors,
                                           const std::map<std::string, std::string>& metadata,
                                           const ModelOptions& options) {
  PERENNIAL_ASSIGN_OR_RETURN(ClipConfig config, InferClipConfig(tensors, metadata));
  if (options.activation) config.activation = *options.activation;
  return CatchTorch("building the CLIP model", [&]() -> StatusOr<ClipModel> {
    ClipModel m;
    m.config_ = config;
    m.options_ = options;
    const ClipConfig& c = config;
    const int64_t vw = c.vision_width, tw = c.text_width, e = c.embed_dim;
    const int64_t grid = c.vision_grid();
    TensorReader r(tensors, options);
    m.vision_.conv1 =
        r.Take("visual.conv1.weight", {vw, 3, c.vision_patch_size, c.vision_patch_size});
    m.vision_.class_embedding = r.Take("visual.class_embedding", {vw});
    m.vision_.positional_embedding = r.Take("visual.positional_embedding", {grid * grid + 1, vw});
    m.vision_.ln_pre = r.TakeLayerNorm("visual.ln_pre", vw);
    m.vision_.transformer =
        r.TakeTransformer("visual.transformer.", c.vision_layers, vw, c.vision_heads, c.activation);
    m.vision_.ln_post = r.TakeLayerNorm("visual.ln_post", vw);
    m.vision_.proj = r.Take("visual.proj", {vw, e});
    m.text_.token_embedding = r.Take("token_embedding.weight", {c.vocab_size, tw});
    m.text_.positional_embedding = r.Take("positional_embedding", {c.context_length, tw});
    m.text_.transformer =
        r.TakeTransformer("transformer.", c.text_layers, tw, c.text_heads, c.activation);
    m.text_.ln_final = r.TakeLayerNorm("ln_final", tw);
    m.text_.projection = r.Take("text_projection", {tw, e});
    m.logit_scale_ = r.Take("logit_scale", {}, /*keep_fp32=*/true);
    PERENNIAL_RETURN_IF_ERROR(r.status());
    FusedKernels fused;
    const bool cuda_kernels =
        options.fused_kernels && options.device.is_cuda() && FusedCudaKernelsBuilt();
    // The add + LayerNorm op has CPU kernels too (add_layer_norm_cpu.h).
    fused.add_layer_norm = cuda_kernels || (options.fused_kernels && options.device.is_cpu());
    fused.lora_grad = cuda_kernels && options.fused_lora_grad;
    fused.silu_lora = fused.lora_grad;
    fused.qkv_grads_apart = options.qkv_grads_apart && options.device.is_cuda();
    m.vision_.transformer.fused = m.text_.transformer.fused = fused;
    if (options.onednn_linear) {
      PackTransformerForOneDnn(m.vision_.transformer);
      PackTransformerForOneDnn(m.text_.transformer);
    }
    return m;
  });
}

StatusOr<ClipModel> ClipModel::Load(const std::string& path, const ModelOptions& options) {
  PERENNIAL_ASSIGN_OR_RETURN(ClipWeights weights, LoadClipWeights(path));
  StatusOr<ClipModel> model = FromTensors(weights.tensors, weights.metadata, options);
  if (!model.ok()) {
    return Status(model.status().code(), path + ": " + std::string(model.status().message()));
  }
  return model;
}

torch::Tensor ClipModel::EncodeImage(const torch::Tensor& pixels, const Adapters* adapters,
                                     bool training) const {
  const VisionWeights& v = vision_;
  // The patch embedding is a stride-p convolution with a p x p kernel, i.e. one GEMM of the
  // non-overlapping patches against the kernel: [N, grid^2, 3 p p] x [3 p p, w]. As a GEMM it
  // runs at BLAS speed where a naive convolution path would not.
  const int64_t r = config_.image_resolution;
  TORCH_CHECK(
      pixels.dim() == 4 && pixels.size(1) == 3 && pixels.size(2) == r && pixels.size(3) == r,
      "EncodeImage expects pixels of shape [N, 3, ", r, ", ", r, "], got ", pixels.sizes());
  const int64_t n = pixels.size(0), p = config_.vision_patch_size, g = config_.vision_grid();
  const int64_t w = v.conv1.size(0);
  torch::Tensor patches = pixels.to(options_.device, options_.dtype)
                              .reshape({n, 3, g, p, g, p})
                              .permute({0, 2, 4, 1, 3, 5})
                              .reshape({n, g * g, 3 * p * p});
  torch::Tensor x = torch::matmul(patches, v.conv1.reshape({w, 3 * p * p}).t());  // [N, g^2, w]
  x = torch::cat({v.class_embedding.view({1, 1, w}).expand({n, 1, w}), x}, 1);
  x = LayerNorm(x + v.positional_embedding, v.ln_pre);
  PetRuntime rt{adapters ? &adapters->options() : nullptr, training};
  // Only the class token's row is read.
  const torch::Tensor class_rows = torch::zeros({n}, x.options().dtype(torch::kLong));
  x = TransformerForward(v.transformer, x, /*causal=*/false,
                         adapters ? &adapters->image_blocks() : nullptr, rt, class_rows);
  x = LayerNorm(x, v.ln_post);
  return torch::matmul(x, v.proj).to(torch::kFloat32);
}

torch::Tensor ClipModel::EncodeText(const torch::Tensor& tokens, const Adapters* adapters,
                                    bool training) const {
  const TextWeights& t = text_;
  // The EOT positions and the shared prefix are found on the CPU, where callers pass tokens, so
  // that reading them does not wait for the GPU to finish the work queued before this call.
  // Tokens already on a GPU are copied back (and wait): the scans below read host memory.
  const torch::Tensor ids_here = tokens.to(torch::kCPU, torch::kLong);
  const torch::Tensor eot_here = ids_here.argmax(-1);
  const int64_t length = std::min<int64_t>(eot_here.max().item<int64_t>() + 1, tokens.size(1));
  const torch::Tensor eot = CopyToDevice(eot_here, options_.device);
  const torch::Tensor ids = CopyToDevice(ids_here.narrow(1, 0, length), options_.device);
  auto embed = [&](const torch::Tensor& some_ids, int64_t start) {
    return torch::embedding(t.token_embedding, some_ids) +
           t.positional_embedding.narrow(0, start, some_ids.size(-1));
  };
  const PetRuntime rt{adapters ? &adapters->options() : nullptr, training};
  const std::vector<BlockAdapters>* blocks = adapters ? &adapters->text_blocks() : nullptr;
  const int64_t shared = options_.share_text_prefix.value_or(options_.device.is_cpu())
                             ? SharedPrefixLength(ids_here.narrow(1, 0, length), eot_here)
                             : 0;
  // Only the EOT token's row is read.
  torch::Tensor x =
      shared >= kMinSharedPrefix
          ? SharedPrefixTransformerForward(t.transformer, embed(ids[0].narrow(0, 0, shared), 0),
                                           embed(ids.narrow(1, shared, length - shared), shared),
                                           blocks, rt, eot - shared)
          : TransformerForward(t.transformer, embed(ids, 0), /*causal=*/true, blocks, rt, eot);
  x = LayerNorm(x, t.ln_final);
  return torch::matmul(x, t.projection).to(torch::kFloat32);
}

StatusOr<torch::ScalarType> ParseComputeDtype(const std::string& name) {
  if (name == "fp32") return torch::kFloat32;
  if (name == "bf16") return torch::kBFloat16;
  if (name == "fp16") return torch::kFloat16;
  return InvalidArgumentError("dtype '" + name + "' is not fp32, bf16 or fp16");
}

StatusOr<torch::Device> ParseDevice(const std::string& name) {
  std::optional<torch::Device> device;
  try {
    device.emplace(name);
  } catch (const std::exception&) {
    return InvalidArgumentError("device '" + name + "' is not cpu, cuda or cuda:N");
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    return FailedPreconditionError("device '" + name +
                                   "': this LibTorch build or machine has no CUDA device");
  }
  return *device;
}

torch::Tensor ClipModel::LogitScale() const { return logit_scale_.exp().clamp_max(100.0); }

Adapters ClipModel::MergeAdapters(const Adapters& adapters) const {
  Adapters merged = adapters.Snapshot();
  if (adapters.options().kind != PetKind::kLora) return merged;
  torch::NoGradGuard no_grad;
  const double scaling = adapters.options().lora_scaling();
  auto merge_tower = [&](std::vector<BlockAdapters>& blocks, const TransformerWeights& tower) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      BlockAdapters& a = blocks[i];
      const BlockWeights& b = tower.blocks[i];
      auto fold = [&](const LoraPair& pair, const LinearWeights& base, BlockMap map,
                      torch::Tensor& merged_weight, PackedLinear& packed) {
        if (!pair.defined()) return;
        torch::Tensor delta = torch::matmul(pair.b, pair.a) * scaling;
        merged_weight = (base.weight.to(torch::kFloat32) + delta.to(base.weight.device()))
                            .to(base.weight.scalar_type());
        if (options_.onednn_linear) {
          packed = PackBlockLinear(merged_weight, base.bias, map, tower.activation, false);
        }
      };
      fold(a.qkv, b.qkv, BlockMap::kQkv, a.merged_qkv, a.packed_qkv);
      fold(a.out, b.out, BlockMap::kOut, a.merged_out, a.packed_out);
      fold(a.fc, b.fc, BlockMap::kFc, a.merged_fc, a.packed_fc);
      fold(a.proj, b.proj, BlockMap::kProj, a.merged_proj, a.packed_proj);
    }
  };
  merge_tower(merged.image_, vision_.transformer);
  merge_tower(merged.text_, text_.transformer);
  return merged;
}

std::map<std::string, torch::Tensor> ClipModel::Tensors(bool cpu_fp32) const {
  TensorMap out;
  out["visual.conv1.weight"] = vision_.conv1;
  out["visual.class_embedding"] = vision_.class_embedding;
  out["visual.positional_embedding"] = vision_.positional_embedding;
  PutLayerNorm(out, "visual.ln_pre", vision_.ln_pre);
  PutTransformer(out, "visual.transformer.", vision_.transformer);
  PutLayerNorm(out, "visual.ln_post", vision_.ln_post);
  out["visual.proj"] = vision_.proj;
  out["token_embedding.weight"] = text_.token_embedding;
  out["positional_embedding"] = text_.positional_embedding;
  PutTransformer(out, "transformer.", text_.transformer);
  PutLayerNorm(out, "ln_final", text_.ln_final);
  out["text_projection"] = text_.projection;
  out["logit_scale"] = logit_scale_;
  if (cpu_fp32) {
    for (auto& [key, tensor] : out) tensor = tensor.to(torch::kCPU, torch::kFloat32).contiguous();
  }
  return out;
}

int64_t ClipModel::ParameterCount() const {
  int64_t n = 0;
  for (const auto& [key, tensor] : Tensors(/*cpu_fp32=*/false)) n += tensor.numel();
  return n;
}

torch::Tensor TokensToTensor(const std::vector<std::vector<int32_t>>& ids, int context_length,
                             bool pad_to_context) {
  size_t longest = 0;
  for (const auto& row : ids) longest = std::max(longest, row.size());
  const int64_t length =
      pad_to_context ? context_length : std::min<int64_t>(longest, context_length);
  torch::Tensor out = torch::zeros({static_cast<int64_t>(ids.size()), length}, torch::kLong);
  auto acc = out.accessor<int64_t, 2>();
  for (size_t i = 0; i < ids.size(); ++i) {
    const size_t n = std::min<size_t>(ids[i].size(), static_cast<size_t>(length));
    for (size_t j = 0; j < n; ++j) acc[i][j] = ids[i][j];
  }
  return out;
}

}  // namespace perennial
