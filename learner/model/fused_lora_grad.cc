#include "learner/model/fused_lora_grad.h"

#if PERENNIAL_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "learner/model/cuda_kernel_args.h"
#include "learner/model/lora_grad_kernels.h"
#endif

namespace perennial {

#if PERENNIAL_CUDA_KERNELS

namespace kernels = cuda_kernels;

namespace {

// The pass over g (or over SiLU's output gradient g and its input, `silu_input` defined).
std::optional<LoraGradProducts> Pass(const torch::Tensor& g, const torch::Tensor& silu_input,
                                     const torch::Tensor& b, const torch::Tensor& t, double scale,
                                     LoraGradPassPipeline pipeline) {
  if (!g.is_cuda() || g.dim() != 2 || b.dim() != 2 || t.dim() != 2) return std::nullopt;
  const auto dtype = g.scalar_type();
  const std::optional<kernels::ElementType> type = kernels::ElementTypeOf(dtype);
  const int64_t rows = g.size(0), cols = g.size(1), rank = b.size(1);
  if (!type || !kernels::LoraGradPassSupports(*type, cols, rank) || b.size(0) != cols ||
      t.size(0) != rows || t.size(1) != rank ||
      (silu_input.defined() && silu_input.sizes() != g.sizes())) {
    return std::nullopt;
  }
  for (const torch::Tensor* x : {&g, &b, &t, &silu_input}) {
    if (x == &silu_input && !x->defined()) continue;
    if (x->scalar_type() != dtype || x->device() != g.device() || !x->is_contiguous() ||
        !kernels::Aligned16(*x)) {
      return std::nullopt;
    }
  }
  const c10::cuda::CUDAGuard guard(g.device());
  LoraGradProducts out;
  out.gt = torch::empty({rows, rank}, g.options());
  out.gb = torch::zeros({cols, rank}, g.options().dtype(torch::kFloat32));
  kernels::LoraGradPassArgs args;
  args.type = *type;
  args.pipeline = pipeline;
  args.g = g.data_ptr();
  args.b = b.data_ptr();
  args.t = t.data_ptr();
  args.gt = out.gt.data_ptr();
  args.gb = out.gb.data_ptr<float>();
  args.scale = static_cast<float>(scale);
  if (silu_input.defined()) {
    out.g = torch::empty_like(g);
    args.silu_input = silu_input.data_ptr();
    args.g_out = out.g.data_ptr();
  }
  args.rows = rows;
  args.cols = static_cast<int>(cols);
  kernels::CheckLaunch(kernels::LaunchLoraGradPass(args, c10::cuda::getCurrentCUDAStream()),
                       "FusedLoraGradPass");
  return out;
}

}  // namespace

std::optional<SiluThinProduct> FusedSiluThinProduct(const torch::Tensor& u, const torch::Tensor& a,
                                                    LoraGradPassPipeline pipeline) {
  if (!u.is_cuda() || u.dim() != 2 || a.dim() != 2) return std::nullopt;
  const std::optional<kernels::ElementType> type = kernels::ElementTypeOf(u.scalar_type());
  const int64_t rows = u.size(0), cols = u.size(1), rank = a.size(0);
  if (!type || !kernels::LoraGradPassSupports(*type, cols, rank) || a.size(1) != cols ||
      a.scalar_type() != u.scalar_type() || a.device() != u.device() || !u.is_contiguous() ||
      !kernels::Aligned16(u)) {
    return std::nullopt;
  }
  const c10::cuda::CUDAGuard guard(u.device());
  const torch::Tensor a_t = a.t().contiguous();  // [cols, rank]: rows of B, as the pass reads
  SiluThinProduct out{torch::empty_like(u), torch::empty({rows, rank}, u.options())};
  kernels::SiluThinProductArgs args;
  args.type = *type;
  args.u = u.data_ptr();
  args.a_t = a_t.data_ptr();
  args.h = out.h.data_ptr();
  args.t = out.t.data_ptr();
  args.pipeline = pipeline;
  args.rows = rows;
  args.cols = static_cast<int>(cols);
  kernels::CheckLaunch(kernels::LaunchSiluThinProduct(args, c10::cuda::getCurrentCUDAStream()),
                       "FusedSiluThinProduct");
  return out;
}

std::optional<LoraGradProducts> FusedLoraGradPass(const torch::Tensor& g, const torch::Tensor& b,
                                                  const torch::Tensor& t, double scale,
                                                  LoraGradPassPipeline pipeline) {
  return Pass(g, torch::Tensor(), b, t, scale, pipeline);
}

std::optional<LoraGradProducts> FusedSiluLoraGradPass(const torch::Tensor& silu_grad,
                                                      const torch::Tensor& silu_input,
                                                      const torch::Tensor& b,
                                                      const torch::Tensor& t, double scale,
                                                      LoraGradPassPipeline pipeline) {
  if (!silu_input.defined()) return std::nullopt;
  return Pass(silu_grad, silu_input, b, t, scale, pipeline);
}

#else  // no CUDA kernels in this build

std::optional<SiluThinProduct> FusedSiluThinProduct(const torch::Tensor&, const torch::Tensor&,
                                                    LoraGradPassPipeline) {
  return std::nullopt;
}

std::optional<LoraGradProducts> FusedLoraGradPass(const torch::Tensor&, const torch::Tensor&,
                                                  const torch::Tensor&, double,
                                                  LoraGradPassPipeline) {
  return std::nullopt;
}

std::optional<LoraGradProducts> FusedSiluLoraGradPass(const torch::Tensor&, const torch::Tensor&,
                                                      const torch::Tensor&, const torch::Tensor&,
                                                      double, LoraGradPassPipeline) {
  return std::nullopt;
}

#endif

}  // namespace perennial
