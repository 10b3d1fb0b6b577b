#include "learner/model/onednn_linear.h"

namespace perennial {
namespace {

// Autograd node with a frozen weight: saves only the packed W^T, not x (dW is not needed).
class OneDnnLinearFunction : public torch::autograd::Function<OneDnnLinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2d,
                               const PackedLinear* packed) {
    ctx->saved_data["weight_t"] = packed->weight_t.ToIValue();
    return OneDnnProduct(x2d, packed->weight, packed->bias);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const OneDnnMatrix weight_t = OneDnnMatrix::FromIValue(ctx->saved_data["weight_t"]);
    return {OneDnnProduct(grads[0], weight_t, torch::Tensor()), torch::Tensor()};
  }
};

}  // namespace

PackedLinear PackLinear(const torch::Tensor& weight, const torch::Tensor& bias, bool for_backward) {
  PackedLinear packed;
  if (!weight.defined() || weight.dim() != 2 || !weight.device().is_cpu() ||
      !OneDnnAvailable(weight.scalar_type()) || weight.requires_grad() ||
      (bias.defined() && bias.requires_grad())) {
    return packed;
  }
  torch::NoGradGuard no_grad;
  packed.weight = OneDnnMatrix::Pack(weight);
  if (for_backward) packed.weight_t = OneDnnMatrix::Pack(weight.t());
  if (bias.defined()) packed.bias = bias.to(torch::kFloat32).contiguous();
  return packed;
}

torch::Tensor OneDnnLinear(const torch::Tensor& x, const PackedLinear& packed) {
  const int64_t in = x.size(-1);
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = packed.weight.rows();
  const torch::Tensor x2d = x.reshape({-1, in});
  torch::Tensor y;
  if (torch::GradMode::is_enabled() && x.requires_grad()) {
    TORCH_CHECK(packed.weight_t.defined(), "OneDnnLinear: x requires grad but W^T was not packed");
    y = OneDnnLinearFunction::apply(x2d, &packed);
  } else {
    y = OneDnnProduct(x2d, packed.weight, packed.bias);
  }
  // A 2-D x gets the product itself, not a view of it, so that callers may accumulate into it
  // in place without autograd rebasing a view.
  return x.dim() == 2 ? y : y.view(out_shape);
}

}  // namespace perennial
