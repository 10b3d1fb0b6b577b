#include "learner/pretrain/adamw.h"

#include <cmath>

namespace perennial {

bool ClipParameterDecays(const std::string& name, const torch::Tensor& tensor) {
  return tensor.dim() >= 2 && name.find("embedding") == std::string::npos;
}

AdamW::AdamW(std::vector<Parameter> parameters, const AdamWOptions& options)
    : parameters_(std::move(parameters)), options_(options) {
  for (const Parameter& p : parameters_) {
    exp_avg_.push_back(torch::zeros_like(p.tensor, torch::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(torch::zeros_like(p.tensor, torch::MemoryFormat::Contiguous));
  }
}

void AdamW::Step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_count_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double correction1 = 1.0 - std::pow(b1, static_cast<double>(step_count_));
  const double correction2 = 1.0 - std::pow(b2, static_cast<double>(step_count_));
  const double step_size = lr / correction1;
  const double sqrt_correction2 = std::sqrt(correction2);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    torch::Tensor& p = parameters_[i].tensor;
    const torch::Tensor grad = p.grad();
    if (!grad.defined()) continue;
    if (parameters_[i].decay && options_.weight_decay > 0.0) {
      p.mul_(1.0 - lr * options_.weight_decay);
    }
    exp_avg_[i].mul_(b1).add_(grad, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(grad, grad, 1.0 - b2);
    const torch::Tensor denom = (exp_avg_sq_[i].sqrt() / sqrt_correction2).add_(options_.epsilon);
    p.addcdiv_(exp_avg_[i], denom, -step_size);
  }
}

void AdamW::ZeroGrad() {
  for (Parameter& p : parameters_) p.tensor.mutable_grad() = torch::Tensor();
}

std::vector<torch::Tensor> AdamW::ParameterTensors() const {
  std::vector<torch::Tensor> out;
  out.reserve(parameters_.size());
  for (const Parameter& p : parameters_) out.push_back(p.tensor);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::StateTensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    out.emplace_back("exp_avg." + parameters_[i].name, exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + parameters_[i].name, exp_avg_sq_[i]);
  }
  return out;
}

Status AdamW::LoadState(const std::map<std::string, torch::Tensor>& state, int64_t step_count) {
  if (step_count < 0) return InvalidArgumentError("AdamW step count is negative");
  std::vector<torch::Tensor> avg, avg_sq;
  for (const Parameter& p : parameters_) {
    for (const bool second_moment : {false, true}) {
      const std::string key = (second_moment ? "exp_avg_sq." : "exp_avg.") + p.name;
      auto it = state.find(key);
      if (it == state.end()) return InvalidArgumentError("missing optimizer tensor '" + key + "'");
      if (!it->second.sizes().equals(p.tensor.sizes())) {
        return InvalidArgumentError("optimizer tensor '" + key + "' has shape " +
                                    c10::str(it->second.sizes()) + ", expected " +
                                    c10::str(p.tensor.sizes()));
      }
      torch::Tensor copy = it->second.to(p.tensor.device(), p.tensor.scalar_type()).clone();
      (second_moment ? avg_sq : avg).push_back(std::move(copy));
    }
  }
  exp_avg_ = std::move(avg);
  exp_avg_sq_ = std::move(avg_sq);
  step_count_ = step_count;
  return OkStatus();
}

}  // namespace perennial
