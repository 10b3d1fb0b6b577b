// File: learner/online/adamw_state.h
//
// torch::optim::AdamW's per-parameter state (step, exp_avg, exp_avg_sq, max_exp_avg_sq) as named
// tensors, so that a checkpoint holds it in the same safetensors file as the adapters.
//
// Portability: LibTorch 1.13 keys Optimizer::state() by the parameter's TensorImpl address
// printed as a string; LibTorch 2.x keys it by the address itself (void*). The key is built from
// the map's own key_type, so the same code compiles against both.
#ifndef PERENNIAL_LEARNER_ONLINE_ADAMW_STATE_H_
#define PERENNIAL_LEARNER_ONLINE_ADAMW_STATE_H_

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

using NamedTensorList = std::vector<std::pair<std::string, torch::Tensor>>;

// Appends "<prefix><name>.step" (int64 [1]), ".exp_avg", ".exp_avg_sq" and, when amsgrad state
// exists, ".max_exp_avg_sq" for every parameter in `params` that has optimizer state (a
// parameter that never had a gradient has none). Tensors are copied to CPU.
void AppendAdamWState(const torch::optim::AdamW& optimizer, const NamedTensorList& params,
                      const std::string& prefix, NamedTensorList* out);

// The AdamW state of `param` in `optimizer`, created as torch::optim::AdamW::step() creates it
// (step 0, zero moments like `param`) when the parameter has none yet.
torch::optim::AdamWParamState& AdamWStateOf(torch::optim::Optimizer& optimizer,
                                            const torch::Tensor& param);

// Replaces the optimizer's state with the one saved by AppendAdamWState. `params` must be the
// optimizer's parameters (same tensors) under the names used when saving. Errors name the tensor
// that is missing or misshaped.
Status RestoreAdamWState(torch::optim::AdamW& optimizer, const NamedTensorList& params,
                         const std::string& prefix, const NamedTensorList& saved);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_ADAMW_STATE_H_
