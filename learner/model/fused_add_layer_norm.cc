#include "learner/model/fused_add_layer_norm.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

#include "learner/model/add_layer_norm_cpu.h"

#if PERENNIAL_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "learner/model/add_layer_norm_kernels.h"
#include "learner/model/cuda_kernel_args.h"
#endif

namespace perennial {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#if PERENNIAL_CUDA_KERNELS
namespace {

namespace kernels = cuda_kernels;

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

namespace {

std::optional<AddLayerNormOutput> CudaAddLayerNorm(const torch::Tensor& x,
                                                   const torch::Tensor& branch,
                                                   const torch::Tensor& gamma,
                                                   const torch::Tensor& beta, double eps) {
  if (!branch.defined() || x.dim() < 1) return std::nullopt;
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

}  // namespace

#else  // no CUDA kernels in this build

bool FusedCudaKernelsBuilt() { return false; }

namespace {

std::optional<AddLayerNormOutput> CudaAddLayerNorm(const torch::Tensor&, const torch::Tensor&,
                                                   const torch::Tensor&, const torch::Tensor&,
                                                   double) {
  return std::nullopt;
}

}  // namespace

#endif

namespace {

// t's elements as the CPU kernels' element type T: float, or bf16 as its bits.
template <typename T>
T* Data(const torch::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

// Calls fn(T{}) with T the kernels' element type for `dtype` (kFloat or kBFloat16).
template <typename Fn>
void ForCpuElementType(torch::ScalarType dtype, Fn fn) {
  if (dtype == torch::kFloat) {
    fn(float{});
  } else {
    fn(uint16_t{});
  }
}

// Rows per task when the intra-op threads share the rows: ~32K elements each.
int64_t RowGrain(int64_t width) { return std::max<int64_t>(1, (int64_t{1} << 15) / width); }

torch::Tensor RunForward(const torch::Tensor& x, const torch::Tensor& branch,
                         const torch::Tensor& gamma, const torch::Tensor& beta, double eps,
                         torch::Tensor* sum, torch::Tensor* mean, torch::Tensor* rstd) {
  const bool has_branch = branch.defined();
  const int64_t width = x.size(-1), rows = x.numel() / width;
  *sum = has_branch ? torch::empty_like(x) : x;
  torch::Tensor normed = torch::empty_like(x);
  *mean = torch::empty({rows}, torch::kFloat);
  *rstd = torch::empty({rows}, torch::kFloat);
  ForCpuElementType(x.scalar_type(), [&](auto element) {
    using T = decltype(element);
    cpu_kernels::AddLayerNormForwardArgs<T> args;
    args.x = Data<T>(x);
    args.branch = has_branch ? Data<T>(branch) : nullptr;
    args.gamma = gamma.data_ptr<float>();
    args.beta = beta.data_ptr<float>();
    args.sum = has_branch ? Data<T>(*sum) : nullptr;
    args.normed = Data<T>(normed);
    args.mean = mean->data_ptr<float>();
    args.rstd = rstd->data_ptr<float>();
    args.width = width;
    args.eps = static_cast<float>(eps);
    at::parallel_for(0, rows, RowGrain(width), [&](int64_t begin, int64_t end) {
      cpu_kernels::AddLayerNormForwardRows(args, begin, end);
    });
  });
  return normed;
}

// x's gradient (and the branch's: the same) from the LayerNorm output's gradient and the sum's
// own (either may be undefined).
torch::Tensor RunBackward(AutogradContext* ctx, const torch::Tensor& grad_sum,
                          const torch::Tensor& grad_normed_in) {
  const torch::Tensor sum = ctx->get_saved_variables()[0];
  const torch::Tensor grad_normed = grad_normed_in.to(sum.scalar_type()).contiguous();
  const torch::Tensor residual =
      grad_sum.defined() ? grad_sum.to(sum.scalar_type()).contiguous() : torch::Tensor();
  torch::Tensor grad_x = torch::empty_like(sum);
  const int64_t width = sum.size(-1), rows = sum.numel() / width;
  ForCpuElementType(sum.scalar_type(), [&](auto element) {
    using T = decltype(element);
    cpu_kernels::AddLayerNormBackwardArgs<T> args;
    args.grad_normed = Data<T>(grad_normed);
    args.grad_sum = residual.defined() ? Data<T>(residual) : nullptr;
    args.sum = Data<T>(sum);
    args.mean = ctx->saved_data["mean"].toTensor().data_ptr<float>();
    args.rstd = ctx->saved_data["rstd"].toTensor().data_ptr<float>();
    args.gamma = ctx->saved_data["gamma"].toTensor().data_ptr<float>();
    args.grad_x = Data<T>(grad_x);
    args.width = width;
    at::parallel_for(0, rows, RowGrain(width), [&](int64_t begin, int64_t end) {
      cpu_kernels::AddLayerNormBackwardRows(args, begin, end);
    });
  });
  return grad_x;
}

void SaveForBackward(AutogradContext* ctx, const torch::Tensor& sum, const torch::Tensor& mean,
                     const torch::Tensor& rstd, const torch::Tensor& gamma) {
  ctx->set_materialize_grads(false);
  ctx->save_for_backward({sum});
  ctx->saved_data["mean"] = mean;
  ctx->saved_data["rstd"] = rstd;
  ctx->saved_data["gamma"] = gamma;
}

// One autograd node for the add and the LayerNorm, on the CPU. gamma and beta arrive as
// contiguous fp32. Outputs {sum, normed}.
class CpuAddLayerNormFunction : public torch::autograd::Function<CpuAddLayerNormFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& branch, const torch::Tensor& gamma,
                               const torch::Tensor& beta, double eps) {
    torch::Tensor sum, mean, rstd;
    torch::Tensor normed = RunForward(x, branch, gamma, beta, eps, &sum, &mean, &rstd);
    SaveForBackward(ctx, sum, mean, rstd, gamma);
    return {sum, normed};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[1].defined()) return {grads[0], grads[0], {}, {}, {}};
    // x and the branch receive the same gradient: the add passes it to both unchanged.
    const torch::Tensor grad_x = RunBackward(ctx, grads[0], grads[1]);
    return {grad_x, grad_x, {}, {}, {}};
  }
};

// LayerNorm alone (no residual add) with the same kernels: autograd takes no undefined input.
class CpuLayerNormFunction : public torch::autograd::Function<CpuLayerNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& gamma, const torch::Tensor& beta, double eps) {
    torch::Tensor sum, mean, rstd;
    torch::Tensor normed = RunForward(x, torch::Tensor(), gamma, beta, eps, &sum, &mean, &rstd);
    SaveForBackward(ctx, sum, mean, rstd, gamma);
    return normed;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {{}, {}, {}, {}};
    return {RunBackward(ctx, torch::Tensor(), grads[0]), {}, {}, {}};
  }
};

bool CpuKernelsTake(const torch::Tensor& x, const torch::Tensor& branch, const torch::Tensor& gamma,
                    const torch::Tensor& beta) {
  if (!x.device().is_cpu() || x.dim() < 1 || !x.is_contiguous() ||
      (x.scalar_type() != torch::kFloat && x.scalar_type() != torch::kBFloat16)) {
    return false;
  }
  const int64_t width = x.size(-1);
  if (width < 1 || width > cpu_kernels::kAddLayerNormMaxWidth || x.numel() == 0) return false;
  if (branch.defined() && (branch.sizes() != x.sizes() || branch.scalar_type() != x.scalar_type() ||
                           !branch.device().is_cpu() || !branch.is_contiguous())) {
    return false;
  }
  return !gamma.requires_grad() && !beta.requires_grad() && gamma.numel() == width &&
         beta.numel() == width;
}

std::optional<AddLayerNormOutput> CpuAddLayerNorm(const torch::Tensor& x,
                                                  const torch::Tensor& branch,
                                                  const torch::Tensor& gamma,
                                                  const torch::Tensor& beta, double eps) {
  if (!CpuKernelsTake(x, branch, gamma, beta)) return std::nullopt;
  const torch::Tensor g = gamma.to(torch::kFloat).contiguous();
  const torch::Tensor b = beta.to(torch::kFloat).contiguous();
  if (!branch.defined()) return AddLayerNormOutput{x, CpuLayerNormFunction::apply(x, g, b, eps)};
  const variable_list out = CpuAddLayerNormFunction::apply(x, branch, g, b, eps);
  return AddLayerNormOutput{out[0], out[1]};
}

}  // namespace

std::optional<AddLayerNormOutput> FusedAddLayerNorm(const torch::Tensor& x,
                                                    const torch::Tensor& branch,
                                                    const torch::Tensor& gamma,
                                                    const torch::Tensor& beta, double eps) {
  if (!x.defined()) return std::nullopt;
  if (x.is_cuda()) return CudaAddLayerNorm(x, branch, gamma, beta, eps);
  return CpuAddLayerNorm(x, branch, gamma, beta, eps);
}

}  // namespace perennial
