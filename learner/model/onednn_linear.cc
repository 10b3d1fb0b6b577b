#include "learner/model/onednn_linear.h"

#include <ATen/Context.h>

namespace perennial {
namespace {

// Autograd node with a frozen weight: saves only the packed W^T, not x (dW is not needed).
class OneDnnLinearFunction : public torch::autograd::Function<OneDnnLinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x2d,
                               const torch::Tensor& weight, const torch::Tensor& weight_t,
                               const torch::Tensor& bias) {
    ctx->saved_data["weight_t"] = weight_t;
    return OneDnnProduct(x2d, weight, bias);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor weight_t = ctx->saved_data["weight_t"].toTensor();
    return {OneDnnProduct(grads[0], weight_t, torch::Tensor()), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor OneDnnProduct(const torch::Tensor& x2d, const torch::Tensor& weight,
                            const torch::Tensor& bias) {
  c10::optional<torch::Tensor> b;
  if (bias.defined()) b = bias;
  return at::mkldnn_linear(x2d.contiguous().to_mkldnn(), weight, b).to_dense();
}

bool OneDnnLinearAvailable() { return at::hasMKLDNN(); }

PackedLinear PackLinear(const torch::Tensor& weight, const torch::Tensor& bias,
                        bool for_backward) {
  PackedLinear packed;
  if (!OneDnnLinearAvailable() || !weight.defined() || weight.dim() != 2 ||
      !weight.device().is_cpu() || weight.scalar_type() != torch::kFloat32 ||
      weight.requires_grad() || (bias.defined() && bias.requires_grad())) {
    return packed;
  }
  torch::NoGradGuard no_grad;
  packed.weight = weight.contiguous().to_mkldnn();
  if (for_backward) packed.weight_t = weight.t().contiguous().to_mkldnn();
  if (bias.defined()) packed.bias = bias.to(torch::kFloat32).contiguous().to_mkldnn();
  return packed;
}

torch::Tensor OneDnnLinear(const torch::Tensor& x, const PackedLinear& packed) {
  const int64_t in = x.size(-1);
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = packed.weight.size(0);
  const torch::Tensor x2d = x.reshape({-1, in});
  torch::Tensor y;
  if (packed.weight_t.defined() && torch::GradMode::is_enabled() && x.requires_grad()) {
    y = OneDnnLinearFunction::apply(x2d, packed.weight, packed.weight_t, packed.bias);
  } else {
    TORCH_CHECK(!(torch::GradMode::is_enabled() && x.requires_grad()),
                "OneDnnLinear: x requires grad but W^T was not packed");
    y = OneDnnProduct(x2d, packed.weight, packed.bias);
  }
  // A 2-D x gets the product itself, not a view of it, so that callers may accumulate into it
  // in place without autograd rebasing a view.
  return x.dim() == 2 ? y : y.view(out_shape);
}

}  // namespace perennial
