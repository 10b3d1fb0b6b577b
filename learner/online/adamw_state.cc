#include "learner/online/adamw_state.h"

#include <map>
#include <memory>
#include <sstream>
#include <type_traits>

#include "learner/base/torch_status.h"

namespace perennial {
namespace {

// The Optimizer::state() key of `param` in this LibTorch version.
template <typename Key>
Key StateKey(const torch::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    // What c10::guts::to_string(impl) gives: the address through operator<<.
    std::ostringstream key;
    key << static_cast<const void*>(param.unsafeGetTensorImpl());
    return key.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

template <typename StateMap>
torch::optim::AdamWParamState* FindState(StateMap& state, const torch::Tensor& param) {
  using Key = typename std::decay_t<StateMap>::key_type;
  auto it = state.find(StateKey<Key>(param));
  if (it == state.end()) return nullptr;
  return static_cast<torch::optim::AdamWParamState*>(it->second.get());
}

}  // namespace

torch::optim::AdamWParamState& AdamWStateOf(torch::optim::Optimizer& optimizer,
                                            const torch::Tensor& param) {
  using Key = typename std::decay_t<decltype(optimizer.state())>::key_type;
  auto& slot = optimizer.state()[StateKey<Key>(param)];
  if (slot == nullptr) {
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(param, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(param, torch::MemoryFormat::Preserve));
    slot = std::move(state);
  }
  return static_cast<torch::optim::AdamWParamState&>(*slot);
}

void AppendAdamWState(const torch::optim::AdamW& optimizer, const NamedTensorList& params,
                      const std::string& prefix, NamedTensorList* out) {
  for (const auto& [name, param] : params) {
    torch::optim::AdamWParamState* s = FindState(optimizer.state(), param);
    if (s == nullptr) continue;
    const std::string base = prefix + name;
    const int64_t step = static_cast<int64_t>(s->step());
    out->emplace_back(base + ".step", torch::tensor({step}, torch::kLong));
    out->emplace_back(base + ".exp_avg", s->exp_avg().detach().cpu().clone());
    out->emplace_back(base + ".exp_avg_sq", s->exp_avg_sq().detach().cpu().clone());
    if (s->max_exp_avg_sq().defined()) {
      out->emplace_back(base + ".max_exp_avg_sq", s->max_exp_avg_sq().detach().cpu().clone());
    }
  }
}

Status RestoreAdamWState(torch::optim::AdamW& optimizer, const NamedTensorList& params,
                         const std::string& prefix, const NamedTensorList& saved) {
  std::map<std::string, torch::Tensor> by_name(saved.begin(), saved.end());
  return CatchTorch("restoring AdamW state", [&]() -> Status {
    using Key = typename std::decay_t<decltype(optimizer.state())>::key_type;
    optimizer.state().clear();
    for (const auto& [name, param] : params) {
      const std::string base = prefix + name;
      auto step = by_name.find(base + ".step");
      if (step == by_name.end()) continue;  // no state saved: the parameter never stepped
      auto avg = by_name.find(base + ".exp_avg");
      auto avg_sq = by_name.find(base + ".exp_avg_sq");
      if (avg == by_name.end() || avg_sq == by_name.end()) {
        return InvalidArgumentError("optimizer state of " + base + " lacks exp_avg/exp_avg_sq");
      }
      if (!avg->second.sizes().equals(param.sizes()) ||
          !avg_sq->second.sizes().equals(param.sizes()) || step->second.numel() != 1) {
        return InvalidArgumentError("optimizer state of " + base + " has the wrong shape");
      }
      auto state = std::make_unique<torch::optim::AdamWParamState>();
      state->step(step->second.item<int64_t>());
      state->exp_avg(avg->second.to(param.options()).clone());
      state->exp_avg_sq(avg_sq->second.to(param.options()).clone());
      auto max_sq = by_name.find(base + ".max_exp_avg_sq");
      if (max_sq != by_name.end()) {
        state->max_exp_avg_sq(max_sq->second.to(param.options()).clone());
      }
      optimizer.state()[StateKey<Key>(param)] = std::move(state);
    }
    return OkStatus();
  });
}

}  // namespace perennial
