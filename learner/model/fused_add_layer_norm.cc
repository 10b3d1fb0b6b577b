#include "learner/model/fused_add_layer_norm.h"

#if PERENNIAL_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "learner/model/add_layer_norm_kernels.h"
#include "learner/model/cuda_kernel_args.h"
#endif

namespace perennial {

#if PERENNIAL_CUDA_KERNELS
namespace {

namespace kernels = cuda_kernels;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One autograd node for the add and the LayerNorm. gamma and beta arrive already in x's dtype.
class AddLayerNormFunction : public torch::autograd::Function<AddLayerNormFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& branch, const torch::Tensor& gamma,
                               const torch::Tensor& beta, double eps) {
    const c10::cuda::CUDAGuard guard(x.device());
    const int64_t width = x.size(-1), rows = x.numel() / width;
    torch::Tensor sum = torch::empty_like(x), normed = torch::empty_like(x);
    const auto stats = x.options().dtype(torch::kFloat32);
    torch::Tensor mean = torch::empty({rows}, stats), rstd = torch::empty({rows}, stats);
    kernels::AddLayerNormForwardArgs args;
    args.type = *kernels::ElementTypeOf(x.scalar_type());
    args.x = x.data_ptr();
    args.branch = branch.data_ptr();
    args.gamma = gamma.data_ptr();
    args.beta = beta.data_ptr();
    args.sum = sum.data_ptr();
    args.normed = normed.data_ptr();
    args.mean = mean.data_ptr<float>();
    args.rstd = rstd.data_ptr<float>();
    args.rows = rows;
    args.width = static_cast<int>(width);
    args.eps = static_cast<float>(eps);
    kernels::CheckLaunch(
        kernels::LaunchAddLayerNormForward(args, c10::cuda::getCurrentCUDAStream()),
        "FusedAddLayerNorm forward");
    ctx->set_materialize_grads(false);
    ctx->save_for_backward({sum});
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["rstd"] = rstd;
    ctx->saved_data["gamma"] = gamma;
    return {sum, normed};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor& grad_sum = grads[0];
    if (!grads[1].defined()) return {grad_sum, grad_sum, {}, {}, {}};
    const torch::Tensor sum = ctx->get_saved_variables()[0];
    const torch::Tensor mean = ctx->saved_data["mean"].toTensor();
    const torch::Tensor rstd = ctx->saved_data["rstd"].toTensor();
    const torch::Tensor gamma = ctx->saved_data["gamma"].toTensor();
    const c10::cuda::CUDAGuard guard(sum.device());
    const torch::Tensor grad_normed = grads[1].to(sum.scalar_type()).contiguous();
    const torch::Tensor residual =
        grad_sum.defined() ? grad_sum.to(sum.scalar_type()).contiguous() : torch::Tensor();
    torch::Tensor grad_x = torch::empty_like(sum);
    kernels::AddLayerNormBackwardArgs args;
    args.type = *kernels::ElementTypeOf(sum.scalar_type());
    args.grad_normed = grad_normed.data_ptr();
    args.grad_sum = residual.defined() ? residual.data_ptr() : nullptr;
    args.sum = sum.data_ptr();
    args.mean = mean.data_ptr<float>();
    args.rstd = rstd.data_ptr<float>();
    args.gamma = gamma.data_ptr();
    args.grad_x = grad_x.data_ptr();
    args.width = static_cast<int>(sum.size(-1));
    args.rows = sum.numel() / args.width;
    kernels::CheckLaunch(
        kernels::LaunchAddLayerNormBackward(args, c10::cuda::getCurrentCUDAStream()),
        "FusedAddLayerNorm backward");
    // x and the branch receive the same gradient: the add passes it to both unchanged.
    return {grad_x, grad_x, {}, {}, {}};
  }
};

}  // namespace

bool FusedCudaKernelsBuilt() { return true; }

std::optional<AddLayerNormOutput> FusedAddLayerNorm(const torch::Tensor& x,
                                                    const torch::Tensor& branch,
                                                    const torch::Tensor& gamma,
                                                    const torch::Tensor& beta, double eps) {
  if (!x.defined() || !branch.defined() || !x.is_cuda() || x.dim() < 1) return std::nullopt;
  const std::optional<kernels::ElementType> type = kernels::ElementTypeOf(x.scalar_type());
  const int64_t width = x.size(-1);
  if (!type || !kernels::AddLayerNormSupports(*type, width)) return std::nullopt;
  if (branch.sizes() != x.sizes() || branch.scalar_type() != x.scalar_type() ||
      branch.device() != x.device() || !x.is_contiguous() || !branch.is_contiguous() ||
      !kernels::Aligned16(x) || !kernels::Aligned16(branch)) {
    return std::nullopt;
  }
  if (gamma.requires_grad() || beta.requires_grad() || gamma.numel() != width ||
      beta.numel() != width) {
    return std::nullopt;
  }
  const auto options = x.options();
  const torch::Tensor g = gamma.to(options).contiguous(), b = beta.to(options).contiguous();
  if (!kernels::Aligned16(g) || !kernels::Aligned16(b))
    return std::nullopt;  // views into a bigger buffer
  const variable_list out = AddLayerNormFunction::apply(x, branch, g, b, eps);
  return AddLayerNormOutput{out[0], out[1]};
}

#else  // no CUDA kernels in this build

bool FusedCudaKernelsBuilt() { return false; }

std::optional<AddLayerNormOutput> FusedAddLayerNorm(const torch::Tensor&, const torch::Tensor&,
                                                    const torch::Tensor&, const torch::Tensor&,
                                                    double) {
  return std::nullopt;
}

#endif

}  // namespace perennial
