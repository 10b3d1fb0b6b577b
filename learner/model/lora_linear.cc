#include "learner/model/lora_linear.h"

namespace perennial {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool UsesPackedWeights(const torch::Tensor& x, const LoraLinearBase& base) {
  return base.packed.defined() && base.base_scale == 1 && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat32;
}

torch::Tensor BaseProduct(const torch::Tensor& x2d, const LoraLinearBase& base) {
  if (UsesPackedWeights(x2d, base)) {
    return OneDnnProduct(x2d, base.packed.weight, base.packed.bias);
  }
  if (base.bias.defined()) {
    return torch::addmm(base.bias, x2d, base.weight.t(), /*beta=*/1, /*alpha=*/base.base_scale);
  }
  torch::Tensor y = torch::mm(x2d, base.weight.t());
  return base.base_scale == 1 ? y : y.mul_(base.base_scale);
}

// base_scale * g W: through the packed W^T when the forward used packed weights and W^T was
// packed, else a dense product (with the scale as the GEMM's alpha: beta = 0 ignores the
// uninitialised output).
torch::Tensor BaseInputGradient(const torch::Tensor& g, const torch::Tensor& weight,
                                const torch::Tensor& packed_weight_t, double base_scale) {
  if (packed_weight_t.defined()) return OneDnnProduct(g, packed_weight_t, torch::Tensor());
  if (base_scale == 1) return torch::mm(g, weight);
  torch::Tensor gx = torch::empty({g.size(0), weight.size(1)}, g.options());
  return at::addmm_out(gx, gx, g, weight, /*beta=*/0, /*alpha=*/base_scale);
}

// y and t = x A^T (saved for B's gradient); A and B already in x's dtype.
torch::Tensor Forward(const torch::Tensor& x2d, const LoraLinearBase& base, const torch::Tensor& a,
                      const torch::Tensor& b, double lora_scale, torch::Tensor* t) {
  torch::Tensor y = BaseProduct(x2d, base);
  *t = torch::mm(x2d, a.t());
  y.addmm_(*t, b.t(), /*beta=*/1, /*alpha=*/lora_scale);
  return y;
}

class LoraLinearFunction : public torch::autograd::Function<LoraLinearFunction> {
 public:
  // Tensor arguments first: needs_input_grad() counts them as edges 0 (x), 1 (A), 2 (B).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x2d,
                               const torch::Tensor& a, const torch::Tensor& b,
                               const LoraLinearBase* base, double lora_scale) {
    const torch::Tensor a_x = a.to(x2d.scalar_type()), b_x = b.to(x2d.scalar_type());
    torch::Tensor t;
    torch::Tensor y = Forward(x2d, *base, a_x, b_x, lora_scale, &t);
    ctx->save_for_backward({x2d, t, a_x, b_x});
    ctx->saved_data["weight"] = base->weight;
    if (UsesPackedWeights(x2d, *base) && base->packed.weight_t.defined()) {
      ctx->saved_data["packed_weight_t"] = base->packed.weight_t;
    }
    ctx->saved_data["base_scale"] = base->base_scale;
    ctx->saved_data["lora_scale"] = lora_scale;
    ctx->saved_data["a_dtype"] = static_cast<int64_t>(a.scalar_type());
    ctx->saved_data["b_dtype"] = static_cast<int64_t>(b.scalar_type());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &t = saved[1], &a = saved[2], &b = saved[3];
    const double lora_scale = ctx->saved_data["lora_scale"].toDouble();
    const torch::Tensor& g = grads[0];
    // The gradient of t = x A^T, scaled once here instead of in each product that uses it.
    const torch::Tensor gt = torch::mm(g, b).mul_(lora_scale);
    torch::Tensor gx, ga, gb;
    if (ctx->needs_input_grad(0)) {
      const auto packed = ctx->saved_data.find("packed_weight_t");
      gx = BaseInputGradient(
          g, ctx->saved_data["weight"].toTensor(),
          packed == ctx->saved_data.end() ? torch::Tensor() : packed->second.toTensor(),
          ctx->saved_data["base_scale"].toDouble());
      gx.addmm_(gt, a);
    }
    if (ctx->needs_input_grad(1)) {
      ga = torch::mm(gt.t(), x).to(static_cast<c10::ScalarType>(ctx->saved_data["a_dtype"].toInt()));
    }
    if (ctx->needs_input_grad(2)) {
      gb = torch::mm(g.t(), t).mul_(lora_scale).to(
          static_cast<c10::ScalarType>(ctx->saved_data["b_dtype"].toInt()));
    }
    return {gx, ga, gb, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor LoraLinear(const torch::Tensor& x2d, const LoraLinearBase& base,
                         const LoraPair& lora, double lora_scale) {
  TORCH_CHECK(x2d.dim() == 2, "LoraLinear: x must be 2-D, got ", x2d.sizes());
  TORCH_CHECK(lora.defined(), "LoraLinear: no LoRA pair");
  const bool record = torch::GradMode::is_enabled() &&
                      (x2d.requires_grad() || lora.a.requires_grad() || lora.b.requires_grad());
  if (record) return LoraLinearFunction::apply(x2d, lora.a, lora.b, &base, lora_scale);
  torch::Tensor t;
  return Forward(x2d, base, lora.a.to(x2d.scalar_type()), lora.b.to(x2d.scalar_type()),
                 lora_scale, &t);
}

}  // namespace perennial
