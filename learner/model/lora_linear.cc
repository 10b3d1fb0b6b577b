#include "learner/model/lora_linear.h"

#include <atomic>

#include "learner/base/yield_point.h"

namespace perennial {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<LoraThinProducts> thin_products_mode{LoraThinProducts::kAuto};

bool UsesPackedWeights(const torch::Tensor& x, const LoraLinearBase& base) {
  return base.packed.Serves(x, base.base_scale);
}

bool FusesThinProducts(const torch::Tensor& x) {
  switch (thin_products_mode.load(std::memory_order_relaxed)) {
    case LoraThinProducts::kFused:
      return true;
    case LoraThinProducts::kSeparate:
      return false;
    case LoraThinProducts::kAuto:
      break;
  }
  return x.is_cuda();
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

// The weights of a map with fused thin products (LoraThinProducts::kFused), [out + p, in + p]
// with p = r rounded up so that rows of both GEMM outputs start 16-byte aligned:
//   [ W'   lora_scale B ]     forward:  x [W'; A]^T         = [y | t]
//   [ A    (not read)   ]     backward: g [W' | lora_scale B] = [x's gradient | g B lora_scale]
// The padding rows and columns of A and B are zero; the corner block is never read.
struct FusedWeights {
  torch::Tensor matrix;
  int64_t out = 0, in = 0, rank = 0;

  torch::Tensor forward_weight() const { return matrix.narrow(1, 0, in); }    // [out + p, in]
  torch::Tensor backward_weight() const { return matrix.narrow(0, 0, out); }  // [out, in + p]
  torch::Tensor scaled_b() const { return matrix.narrow(0, 0, out).narrow(1, in, rank); }
};

FusedWeights MakeFusedWeights(const torch::Tensor& merged, const torch::Tensor& a,
                              const torch::Tensor& b, double lora_scale) {
  const int64_t out = merged.size(0), in = merged.size(1), r = a.size(0);
  const int64_t per_16_bytes = std::max<int64_t>(1, 16 / merged.element_size());
  const int64_t padded = (r + per_16_bytes - 1) / per_16_bytes * per_16_bytes;
  FusedWeights w{torch::empty({out + padded, in + padded}, merged.options()), out, in, r};
  w.matrix.narrow(0, 0, out).narrow(1, 0, in).copy_(merged);
  w.matrix.narrow(0, out, r).narrow(1, 0, in).copy_(a);
  w.scaled_b().copy_(b.mul(lora_scale));
  if (padded > r) {
    w.matrix.narrow(0, out + r, padded - r).narrow(1, 0, in).zero_();
    w.matrix.narrow(0, 0, out).narrow(1, in + r, padded - r).zero_();
  }
  return w;
}

// What the backward needs besides the saved tensors: the matrix x's gradient is multiplied by
// and how the LoRA share of it comes.
enum class BackwardPath : int64_t {
  kMerged,  // x's gradient is g W' (the merged weight, which holds both shares)
  kPacked,  // g W^T with W^T packed for oneDNN, plus the LoRA share g B A added in place
  kFused,   // g [W' | lora_scale B] (FusedWeights): x's gradient and g B in one GEMM
};

struct ForwardResult {
  torch::Tensor y;
  torch::Tensor t;  // x A^T, contiguous; undefined when not asked for
  c10::IValue backward_weight;
  BackwardPath path = BackwardPath::kMerged;
};

// y, and when `for_backward`: t = x A^T and what the backward multiplies by (BackwardPath).
ForwardResult Forward(const torch::Tensor& x2d, const LoraLinearBase& base, const torch::Tensor& a,
                      const torch::Tensor& b, double lora_scale, bool for_backward) {
  ForwardResult r;
  if (UsesPackedWeights(x2d, base)) {
    r.t = torch::mm(x2d, a.t());
    if (for_backward) {
      const bool packed_t = base.packed.weight_t.defined();
      r.path = packed_t ? BackwardPath::kPacked : BackwardPath::kMerged;
      r.backward_weight = packed_t ? base.packed.weight_t.ToIValue()
                                   : c10::IValue(MergedWeight(base, a, b, lora_scale));
    }
    r.y = PackedForward(x2d, base, b, lora_scale, r.t);
    return r;
  }
  const torch::Tensor merged = MergedWeight(base, a, b, lora_scale);
  if (for_backward && FusesThinProducts(x2d)) {
    const FusedWeights w = MakeFusedWeights(merged, a, b, lora_scale);
    const torch::Tensor bias =
        base.bias.defined()
            ? torch::constant_pad_nd(base.bias, {0, w.matrix.size(0) - w.out}, 0)
            : base.bias;
    const torch::Tensor yt = MergedForward(x2d, w.forward_weight(), bias);
    r.y = yt.narrow(1, 0, w.out);
    r.t = yt.narrow(1, w.out, w.rank).contiguous();  // saved alone: y's storage may be freed
    r.backward_weight = w.matrix;
    r.path = BackwardPath::kFused;
    return r;
  }
  if (for_backward) {
    r.t = torch::mm(x2d, a.t());
    r.backward_weight = merged;
  }
  r.y = MergedForward(x2d, merged, base.bias);
  return r;
}

// x's gradient and gt = lora_scale g B (t's gradient), each computed when asked for.
void InputGradients(const torch::Tensor& g, BackwardPath path, const c10::IValue& backward_weight,
                    const torch::Tensor& a, const torch::Tensor& b, double lora_scale,
                    bool need_gx, bool need_gt, torch::Tensor* gx, torch::Tensor* gt) {
  if (path == BackwardPath::kFused) {
    const torch::Tensor m = backward_weight.toTensor();
    const int64_t out = g.size(1), in = a.size(1), r = a.size(0);
    if (need_gx) {
      const torch::Tensor both = torch::mm(g, m.narrow(0, 0, out));
      *gx = both.narrow(1, 0, in);
      *gt = both.narrow(1, in, r);
    } else if (need_gt) {
      *gt = torch::mm(g, m.narrow(0, 0, out).narrow(1, in, r));
    }
    return;
  }
  const bool packed = path == BackwardPath::kPacked;
  if (need_gt || (packed && need_gx)) *gt = torch::mm(g, b).mul_(lora_scale);
  if (!need_gx) return;
  if (packed) {
    *gx = OneDnnProduct(g, OneDnnMatrix::FromIValue(backward_weight), torch::Tensor());
    gx->addmm_(*gt, a);
  } else {
    *gx = torch::mm(g, backward_weight.toTensor());
  }
}

class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  // Tensor arguments first: needs_input_grad() counts them as edges 0 (x), 1 (A), 2 (B).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x2d,
                               const torch::Tensor& a, const torch::Tensor& b,
                               const LoraLinearBase* base, double lora_scale) {
    const torch::Tensor a_x = a.to(x2d.scalar_type()), b_x = b.to(x2d.scalar_type());
    ForwardResult r = Forward(x2d, *base, a_x, b_x, lora_scale, /*for_backward=*/true);
    ctx->save_for_backward({x2d, r.t, a_x, b_x});
    ctx->saved_data["backward_weight"] = std::move(r.backward_weight);
    ctx->saved_data["path"] = static_cast<int64_t>(r.path);
    ctx->saved_data["lora_scale"] = lora_scale;
    ctx->saved_data["a_dtype"] = static_cast<int64_t>(a.scalar_type());
    ctx->saved_data["b_dtype"] = static_cast<int64_t>(b.scalar_type());
    return r.y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    YieldPoint();  // the backward's pause points for queries, as the forward's blocks are
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &t = saved[1], &a = saved[2], &b = saved[3];
    const double lora_scale = ctx->saved_data["lora_scale"].toDouble();
    const torch::Tensor& g = grads[0];
    const auto path = static_cast<BackwardPath>(ctx->saved_data["path"].toInt());
    // gt: the gradient of t = x A^T, scaled once instead of in each product that uses it.
    torch::Tensor gx, gt, ga, gb;
    InputGradients(g, path, ctx->saved_data["backward_weight"], a, b, lora_scale,
                   ctx->needs_input_grad(0), ctx->needs_input_grad(1), &gx, &gt);
    if (ctx->needs_input_grad(1)) {
      ga = torch::mm(gt.t(), x).to(
          static_cast<c10::ScalarType>(ctx->saved_data["a_dtype"].toInt()));
    }
    if (ctx->needs_input_grad(2)) {
      gb = torch::mm(g.t(), t).mul_(lora_scale).to(
          static_cast<c10::ScalarType>(ctx->saved_data["b_dtype"].toInt()));
    }
    return {gx, ga, gb, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void SetLoraThinProducts(LoraThinProducts mode) {
  thin_products_mode.store(mode, std::memory_order_relaxed);
}

LoraThinProducts GetLoraThinProducts() {
  return thin_products_mode.load(std::memory_order_relaxed);
}

torch::Tensor LoraLinear(const torch::Tensor& x2d, const LoraLinearBase& base,
                         const LoraPair& lora, double lora_scale) {
  TORCH_CHECK(x2d.dim() == 2, "LoraLinear: x must be 2-D, got ", x2d.sizes());
  TORCH_CHECK(lora.defined(), "LoraLinear: no LoRA pair");
  const bool record = torch::GradMode::is_enabled() &&
                      (x2d.requires_grad() || lora.a.requires_grad() || lora.b.requires_grad());
  if (record) return LoraLinearFunction::apply(x2d, lora.a, lora.b, &base, lora_scale);
  return Forward(x2d, base, lora.a.to(x2d.scalar_type()), lora.b.to(x2d.scalar_type()),
                 lora_scale, /*for_backward=*/false)
      .y;
}

}  // namespace perennial
