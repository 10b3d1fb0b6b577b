#include "learner/online/fused_adamw.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <map>

#include "learner/online/adamw_state.h"

namespace perennial {
namespace {

struct Hyper {
  double lr, beta1, beta2, eps, weight_decay;
};

Hyper HyperOf(const torch::optim::AdamWOptions& o) {
  return {o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(), o.weight_decay()};
}

bool OnePassEligible(const torch::Tensor& p, const torch::Tensor& g,
                     const torch::optim::AdamWParamState& s) {
  auto fp32_cpu = [](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() &&
           t.layout() == torch::kStrided;
  };
  return fp32_cpu(p) && fp32_cpu(g) && fp32_cpu(s.exp_avg()) && fp32_cpu(s.exp_avg_sq());
}

// The whole update of one parameter in one loop: each element is read and written once.
// s.step() is the step count after this step.
void UpdateInOnePass(torch::Tensor& p, const torch::Tensor& g, torch::optim::AdamWParamState& s,
                     const Hyper& h) {
  const double t = static_cast<double>(s.step());
  const float decay = static_cast<float>(1 - h.lr * h.weight_decay);
  const float beta1 = static_cast<float>(h.beta1), rest1 = static_cast<float>(1 - h.beta1);
  const float beta2 = static_cast<float>(h.beta2), rest2 = static_cast<float>(1 - h.beta2);
  const float sqrt_bc2 = static_cast<float>(std::sqrt(1 - std::pow(h.beta2, t)));
  const float neg_step = static_cast<float>(-h.lr / (1 - std::pow(h.beta1, t)));
  const float eps = static_cast<float>(h.eps);
  float* param = p.data_ptr<float>();
  const float* grad = g.data_ptr<float>();
  float* avg = s.exp_avg().data_ptr<float>();
  float* avg_sq = s.exp_avg_sq().data_ptr<float>();
  at::parallel_for(0, p.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = grad[i];
      const float m = avg[i] * beta1 + rest1 * gi;
      const float v = avg_sq[i] * beta2 + rest2 * gi * gi;
      avg[i] = m;
      avg_sq[i] = v;
      param[i] = param[i] * decay + neg_step * m / (std::sqrt(v) / sqrt_bc2 + eps);
    }
  });
}

// Parameters that reach the same step count in this step, updated together.
struct Bucket {
  std::vector<torch::Tensor> params, grads, avgs, avg_sqs;
};

void UpdateMultiTensor(Bucket& b, int64_t step, const Hyper& h) {
  const double t = static_cast<double>(step);
  const double bias_correction1 = 1 - std::pow(h.beta1, t);
  const double bias_correction2 = 1 - std::pow(h.beta2, t);
  if (h.weight_decay != 0) at::_foreach_mul_(b.params, 1 - h.lr * h.weight_decay);
  at::_foreach_mul_(b.avgs, h.beta1);
  at::_foreach_add_(b.avgs, b.grads, 1 - h.beta1);
  at::_foreach_mul_(b.avg_sqs, h.beta2);
  at::_foreach_addcmul_(b.avg_sqs, b.grads, b.grads, 1 - h.beta2);
  std::vector<torch::Tensor> denom = at::_foreach_sqrt(b.avg_sqs);
  at::_foreach_div_(denom, std::sqrt(bias_correction2));
  at::_foreach_add_(denom, h.eps);
  at::_foreach_addcdiv_(b.params, b.avgs, denom, -h.lr / bias_correction1);
}

}  // namespace

FusedAdamW::FusedAdamW(std::vector<torch::Tensor> params, torch::optim::AdamWOptions options,
                       Kernel kernel)
    : torch::optim::AdamW(std::move(params), options), kernel_(kernel) {
  TORCH_CHECK(!options.amsgrad(), "FusedAdamW does not implement amsgrad");
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const Hyper h = HyperOf(static_cast<const torch::optim::AdamWOptions&>(group.options()));
    std::map<int64_t, Bucket> buckets;
    for (torch::Tensor& p : group.params()) {
      if (!p.grad().defined()) continue;
      const torch::Tensor& g = p.grad();
      TORCH_CHECK(!g.is_sparse(), "FusedAdamW does not support sparse gradients");
      torch::optim::AdamWParamState& s = AdamWStateOf(*this, p);
      s.step(s.step() + 1);
      const bool one_pass =
          kernel_ == Kernel::kOnePass || (kernel_ == Kernel::kAuto && OnePassEligible(p, g, s));
      if (one_pass) {
        TORCH_CHECK(OnePassEligible(p, g, s),
                    "FusedAdamW kOnePass needs contiguous fp32 CPU parameters and state");
        UpdateInOnePass(p, g, s, h);
        continue;
      }
      Bucket& b = buckets[s.step()];
      b.params.push_back(p);
      b.grads.push_back(g);
      b.avgs.push_back(s.exp_avg());
      b.avg_sqs.push_back(s.exp_avg_sq());
    }
    for (auto& [step, bucket] : buckets) UpdateMultiTensor(bucket, step, h);
  }
  return loss;
}

}  // namespace perennial
