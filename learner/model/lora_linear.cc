#include "learner/model/lora_linear.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "learner/base/yield_point.h"
#include "learner/model/cpu_silu.h"
#include "learner/model/cpu_thin_products.h"
#include "learner/model/fused_lora_grad.h"

namespace perennial {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool UsesPackedWeights(const torch::Tensor& x, const LoraLinearBase& base) {
  return base.packed.Serves(x, base.base_scale);
}

// base_scale W + lora_scale B A: the map's weight with the LoRA delta merged in, [out, in].
torch::Tensor MergedWeight(const LoraLinearBase& base, const torch::Tensor& a,
                           const torch::Tensor& b, double lora_scale) {
  return torch::addmm(base.weight, b, a, /*beta=*/base.base_scale, /*alpha=*/lora_scale);
}

// y for the packed oneDNN weights, which cannot take the delta: the base product plus the thin
// LoRA products, accumulated in place into y. `t` = x A^T.
torch::Tensor PackedForward(const torch::Tensor& x2d, const LoraLinearBase& base,
                            const torch::Tensor& b, double lora_scale, const torch::Tensor& t) {
  torch::Tensor y = OneDnnProduct(x2d, base.packed.weight, base.packed.bias);
  y.addmm_(t, b.t(), /*beta=*/1, /*alpha=*/lora_scale);
  return y;
}

// y = x merged^T + bias: one GEMM whose output is written once, where adding the delta's
// product (K = rank) afterwards is a read and a write of all of y for ~no arithmetic.
torch::Tensor MergedForward(const torch::Tensor& x2d, const torch::Tensor& merged,
                            const torch::Tensor& bias) {
  return bias.defined() ? torch::addmm(bias, x2d, merged.t()) : torch::mm(x2d, merged.t());
}

// How x's gradient is computed in the backward, by the weight the forward left for it.
enum class BackwardPath : int64_t {
  kMergedTensor,  // g W' with the merged weight tensor (both shares)
  kPackedBase,    // g W with W^T packed for oneDNN, plus the LoRA share (g B) A added in place
  kPackedMerged,  // g W' with W'^T packed for oneDNN this step (both shares)
};

// Rows of x from which the packed path merges the delta into the weight and packs W' and W'^T
// for this step instead of adding the delta's products to y and to x's gradient. Those two
// products are N x rank x (out + in) multiply-adds at the low rate of thin GEMMs; merging costs
// out x in x rank and packing two out x in copies, whatever N. The default model's image tower
// (N = 16 x 65 rows, width 128) is far above it, a text batch of a few labels below.
bool RepacksMergedWeight(const torch::Tensor& x2d, const LoraLinearBase& base) {
  const int64_t out = base.weight.size(0), in = base.weight.size(1);
  return base.packed.weight_t.defined() && x2d.size(0) >= std::max(out, in);
}

// x A^T: the caller's (LoraLinearBase::t) where it has it, else one product (on the CPU where
// CpuThinPass takes it: fp32 ~2x OpenBLAS's, bf16 on AMD ~1.4x oneDNN's).
torch::Tensor ThinForward(const torch::Tensor& x2d, const LoraLinearBase& base,
                          const torch::Tensor& a) {
  if (base.t.defined()) return base.t;
  if (std::optional<CpuThinProducts> pass = CpuThinPass(x2d, a.t(), torch::Tensor(), 1.0)) {
    return std::move(pass->mb);
  }
  return torch::mm(x2d, a.t());
}

// A's gradient gt^T x, [rank, in]: on the CPU as CpuThinPass's (x^T gt), transposed, where it
// takes x.
torch::Tensor AGradient(const torch::Tensor& gt, const torch::Tensor& x) {
  if (std::optional<CpuThinProducts> pass = CpuThinPass(x, torch::Tensor(), gt, 1.0)) {
    return pass->mt.t().contiguous();
  }
  return torch::mm(gt.t(), x);
}

// y, and when `backward_weight` is non-null what x's gradient is multiplied by (BackwardPath):
// an OneDnnMatrix for the packed paths, else the merged weight tensor. `t` = x A^T, computed
// when `t` is non-null or the packed path needs it.
torch::Tensor Forward(const torch::Tensor& x2d, const LoraLinearBase& base, const torch::Tensor& a,
                      const torch::Tensor& b, double lora_scale, torch::Tensor* t,
                      c10::IValue* backward_weight, BackwardPath* path) {
  if (UsesPackedWeights(x2d, base)) {
    const torch::Tensor xa = ThinForward(x2d, base, a);
    if (t != nullptr) *t = xa;
    if (backward_weight != nullptr && RepacksMergedWeight(x2d, base)) {
      const torch::Tensor merged = MergedWeight(base, a, b, lora_scale);
      // W'^T only when the backward will want x's gradient.
      if (x2d.requires_grad()) *backward_weight = OneDnnMatrix::Pack(merged.t()).ToIValue();
      *path = BackwardPath::kPackedMerged;
      return OneDnnProduct(x2d, OneDnnMatrix::Pack(merged), base.packed.bias);
    }
    if (backward_weight != nullptr) {
      const bool packed_t = base.packed.weight_t.defined();
      *backward_weight = packed_t ? base.packed.weight_t.ToIValue()
                                  : c10::IValue(MergedWeight(base, a, b, lora_scale));
      *path = packed_t ? BackwardPath::kPackedBase : BackwardPath::kMergedTensor;
    }
    return PackedForward(x2d, base, b, lora_scale, xa);
  }
  const torch::Tensor merged = MergedWeight(base, a, b, lora_scale);
  if (t != nullptr) *t = ThinForward(x2d, base, a);
  if (backward_weight != nullptr) {
    *backward_weight = merged;
    *path = BackwardPath::kMergedTensor;
  }
  return MergedForward(x2d, merged, base.bias);
}

// Rows [i * rows, (i + 1) * rows) of m: the part of a [out, ...] weight that serves the output's
// column block i.
torch::Tensor BlockRows(const torch::Tensor& m, size_t i, int64_t rows) {
  if (rows == m.size(0)) return m;  // one block: no view op on the common path
  return m.narrow(0, static_cast<int64_t>(i) * rows, rows);
}

// The thin products of one node's backward, block by block of the output gradient g:
// s g B (the gradient of t = x A^T) and B's gradient s g^T t, each only where wanted, s the LoRA
// scale. One pass over g with the CUDA kernel where `fused` asks and it applies (it scales), or
// on the CPU where CpuThinPass takes g (fp32: 3-4x OpenBLAS's two products; bf16 on AMD:
// 1.2-2x oneDNN's; whatever `fused`); else two ATen products of s B and s t, made once per node
// on first use: scaling the [out, rank] and [N, rank] inputs costs two tiny kernels per node,
// where scaling each block's products would cost two per block (three blocks for q/k/v
// gradients apart).
class ThinProducts {
 public:
  ThinProducts(const torch::Tensor& b, const torch::Tensor& t, double scale, int64_t block_width)
      : b_(b), t_(t), scale_(scale), block_width_(block_width) {}

  // Block `block` of g, [N, block_width].
  LoraGradProducts Of(const torch::Tensor& g, size_t block, bool want_gt, bool want_gb,
                      bool fused) {
    if (fused && want_gt && want_gb) {
      if (std::optional<LoraGradProducts> pass =
              FusedLoraGradPass(g, BlockRows(b_, block, block_width_), t_, scale_)) {
        return *pass;
      }
    }
    if (g.is_cpu() && (want_gt || want_gb)) {
      const torch::Tensor b = want_gt ? BlockRows(b_, block, block_width_) : torch::Tensor();
      if (std::optional<CpuThinProducts> pass =
              CpuThinPass(g, b, want_gb ? t_ : torch::Tensor(), scale_)) {
        return {std::move(pass->mb), std::move(pass->mt), torch::Tensor()};
      }
    }
    LoraGradProducts products;
    if (want_gt) {
      if (!scaled_b_.defined()) scaled_b_ = b_.mul(scale_);
      products.gt = torch::mm(g, BlockRows(scaled_b_, block, block_width_));
    }
    if (want_gb) {
      if (!scaled_t_.defined()) scaled_t_ = t_.mul(scale_);
      // On the CPU as (s t)^T g, [rank, width], transposed back as a view: its BLAS runs a
      // product with 8 output rows 20-40% faster than one with 8 output columns (OpenBLAS fp32
      // and oneDNN bf16 alike; ViT-B/32's fc, g [800, 3072] fp32, 2 threads: 1.33 -> 0.81 ms).
      // cuBLAS's side of it has not been measured.
      products.gb = g.is_cpu() ? torch::mm(scaled_t_.t(), g).t() : torch::mm(g.t(), scaled_t_);
    }
    return products;
  }

 private:
  const torch::Tensor& b_;
  const torch::Tensor& t_;
  const double scale_;
  const int64_t block_width_;
  torch::Tensor scaled_b_, scaled_t_;  // s B, s t: defined once an ATen block needs them
};

// SiLU(y) and, where `next_a` is defined, t_next = SiLU(y) next_a^T (LoraLinearBase::next_a).
std::pair<torch::Tensor, torch::Tensor> SiluAndNextThin(const torch::Tensor& y,
                                                        const torch::Tensor& next_a, bool fused) {
  if (!next_a.defined()) return {SiluForward(y), torch::Tensor()};
  if (fused) {
    if (std::optional<SiluThinProduct> pass = FusedSiluThinProduct(y, next_a)) {
      return {std::move(pass->h), std::move(pass->t)};
    }
  }
  torch::Tensor h = SiluForward(y);
  torch::Tensor t_next = torch::mm(h, next_a.t());
  return {std::move(h), std::move(t_next)};
}

class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  // Tensor arguments first: needs_input_grad() counts them as edges 0 (x), 1 (A), 2 (B).
  // Returns y as `chunks` column blocks (LoraLinearChunks), then t_next where base->next_a asks.
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x2d,
                               const torch::Tensor& a, const torch::Tensor& b,
                               const LoraLinearBase* base, double lora_scale, int64_t chunks) {
    const torch::Tensor a_x = a.to(x2d.scalar_type()), b_x = b.to(x2d.scalar_type());
    torch::Tensor t;
    c10::IValue backward_weight;
    BackwardPath path = BackwardPath::kMergedTensor;
    torch::Tensor y = Forward(x2d, *base, a_x, b_x, lora_scale, &t, &backward_weight, &path);
    // SiLU's input, kept for its backward as ATen's silu would keep it.
    const torch::Tensor silu_input = base->silu_output ? y : torch::Tensor();
    torch::Tensor t_next;
    if (base->silu_output) {
      std::tie(y, t_next) = SiluAndNextThin(y, base->next_a, base->fused_kernels);
    }
    ctx->save_for_backward({x2d, t, a_x, b_x, silu_input});
    ctx->saved_data["backward_weight"] = backward_weight;
    ctx->saved_data["path"] = static_cast<int64_t>(path);
    ctx->saved_data["lora_scale"] = lora_scale;
    ctx->saved_data["fused_kernels"] = base->fused_kernels;
    ctx->saved_data["a_dtype"] = static_cast<int64_t>(a.scalar_type());
    ctx->saved_data["b_dtype"] = static_cast<int64_t>(b.scalar_type());
    ctx->saved_data["returns_t_next"] = t_next.defined();
    variable_list outputs = chunks == 1 ? variable_list{y} : y.split(y.size(1) / chunks, 1);
    if (t_next.defined()) {
      ctx->mark_non_differentiable({t_next});
      outputs.push_back(std::move(t_next));
    }
    return outputs;
  }

  // `grads`: the output's gradient, one [N, out / chunks] block per chunk (and t_next's, which
  // is not differentiable, last).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    YieldPoint();  // the backward's pause points for queries, as the forward's blocks are
    if (ctx->saved_data["returns_t_next"].toBool()) grads.pop_back();
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &t = saved[1], &a = saved[2], &b = saved[3];
    const double lora_scale = ctx->saved_data["lora_scale"].toDouble();
    const c10::IValue& backward_weight = ctx->saved_data["backward_weight"];
    const auto path = static_cast<BackwardPath>(ctx->saved_data["path"].toInt());
    const bool packed = path == BackwardPath::kPackedBase;
    // Packed oneDNN weights cannot be cut into row blocks: one block of g for them.
    if (path != BackwardPath::kMergedTensor && grads.size() > 1) grads = {torch::cat(grads, 1)};
    const int64_t width = grads[0].size(1);
    const bool want_gt = ctx->needs_input_grad(1) || (packed && ctx->needs_input_grad(0));
    const bool fused = ctx->saved_data["fused_kernels"].toBool() && !packed &&
                       ctx->needs_input_grad(1) && ctx->needs_input_grad(2);
    // With SiLU on the output: its backward first, with the thin products in the same pass
    // where the kernel applies. One block of g (LoraLinearChunks allows no chunks with SiLU).
    std::optional<LoraGradProducts> silu_pass;
    if (const torch::Tensor& silu_input = saved[4]; silu_input.defined()) {
      if (fused) silu_pass = FusedSiluLoraGradPass(grads[0], silu_input, b, t, lora_scale);
      grads[0] = silu_pass ? silu_pass->g : SiluBackward(grads[0], silu_input);
    }
    // gt: the gradient of t = x A^T (scaled, so that no product that uses it scales again),
    // summed over the blocks. gb: B's gradient, one block of rows per block of g.
    torch::Tensor gt;
    std::vector<torch::Tensor> gb_blocks;
    auto take = [&](LoraGradProducts p) {
      if (p.gt.defined()) gt = gt.defined() ? gt.add_(p.gt) : p.gt;
      if (p.gb.defined()) gb_blocks.push_back(std::move(p.gb));
    };
    if (silu_pass) {
      take(*std::move(silu_pass));  // the SiLU pass took both products already
    } else {
      ThinProducts products(b, t, lora_scale, width);
      for (size_t i = 0; i < grads.size(); ++i) {
        take(products.Of(grads[i], i, want_gt, ctx->needs_input_grad(2), fused));
      }
    }
    if (gt.defined()) gt = gt.to(grads[0].scalar_type());
    torch::Tensor gx, ga, gb;
    if (ctx->needs_input_grad(0)) {
      if (path != BackwardPath::kMergedTensor) {
        gx = OneDnnProduct(grads[0], OneDnnMatrix::FromIValue(backward_weight), torch::Tensor());
        if (packed) gx.addmm_(gt, a);
      } else {
        const torch::Tensor& merged = backward_weight.toTensor();
        gx = torch::mm(grads[0], BlockRows(merged, 0, width));
        for (size_t i = 1; i < grads.size(); ++i) gx.addmm_(grads[i], BlockRows(merged, i, width));
      }
    }
    if (ctx->needs_input_grad(1)) {
      ga = AGradient(gt, x).to(static_cast<c10::ScalarType>(ctx->saved_data["a_dtype"].toInt()));
    }
    if (!gb_blocks.empty()) {
      gb = gb_blocks.size() == 1 ? std::move(gb_blocks[0]) : torch::cat(gb_blocks);
      // Contiguous like B (an ATen block's gb is a transposed view): one copy at most, with the
      // cast.
      gb = gb.to(static_cast<c10::ScalarType>(ctx->saved_data["b_dtype"].toInt()),
                 /*non_blocking=*/false, /*copy=*/false, c10::MemoryFormat::Contiguous);
    }
    return {gx, ga, gb, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::vector<torch::Tensor> LoraLinearChunks(const torch::Tensor& x2d, const LoraLinearBase& base,
                                            const LoraPair& lora, double lora_scale,
                                            int64_t chunks) {
  TORCH_CHECK(x2d.dim() == 2, "LoraLinear: x must be 2-D, got ", x2d.sizes());
  TORCH_CHECK(lora.defined(), "LoraLinear: no LoRA pair");
  const int64_t out = base.weight.size(0);
  TORCH_CHECK(chunks >= 1 && out % chunks == 0, "LoraLinear: ", out, " outputs in ", chunks,
              " equal chunks");
  TORCH_CHECK(chunks == 1 || !base.silu_output, "LoraLinear: SiLU output in one chunk only");
  const bool record = torch::GradMode::is_enabled() &&
                      (x2d.requires_grad() || lora.a.requires_grad() || lora.b.requires_grad());
  if (record) return LoraLinearFunction::apply(x2d, lora.a, lora.b, &base, lora_scale, chunks);
  const torch::Tensor y =
      Forward(x2d, base, lora.a.to(x2d.scalar_type()), lora.b.to(x2d.scalar_type()), lora_scale,
              nullptr, nullptr, nullptr);
  if (chunks == 1) return {base.silu_output ? SiluForward(y) : y};
  return y.split(out / chunks, 1);
}

torch::Tensor LoraLinear(const torch::Tensor& x2d, const LoraLinearBase& base, const LoraPair& lora,
                         double lora_scale) {
  return LoraLinearChunks(x2d, base, lora, lora_scale, 1)[0];
}

}  // namespace perennial
