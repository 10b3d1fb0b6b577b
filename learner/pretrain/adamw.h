// File: learner/pretrain/adamw.h
//
// AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW update) over named parameters, with
// decoupled weight decay applied only where asked, and its whole state exposed as named tensors
// so that a pretraining checkpoint can hold it in one safetensors file and resume bit-for-bit.
//
// Thread-safety: not thread-safe; one training loop owns it.
#ifndef PERENNIAL_LEARNER_PRETRAIN_ADAMW_H_
#define PERENNIAL_LEARNER_PRETRAIN_ADAMW_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

struct AdamWOptions {
  double beta1 = 0.9;          // Default: 0.9.
  double beta2 = 0.999;        // Default: 0.999.
  double epsilon = 1e-8;       // Default: 1e-8.
  double weight_decay = 0.01;  // Decoupled; only on parameters marked to decay. Default: 0.01.
};

// True for the parameters of an OpenAI-layout CLIP that CLIP's recipe decays: matrices and the
// patch convolution, not gains, biases, embeddings (token, positional, class) or logit_scale.
bool ClipParameterDecays(const std::string& name, const torch::Tensor& tensor);

class AdamW {
 public:
  struct Parameter {
    std::string name;
    torch::Tensor tensor;  // a leaf that requires grad; updated in place
    bool decay = false;
  };

  AdamW(std::vector<Parameter> parameters, const AdamWOptions& options);

  // One update at learning rate `lr` from the parameters' current .grad() (parameters without a
  // gradient are skipped). Runs without autograd.
  void Step(double lr);
  // Resets every gradient to undefined.
  void ZeroGrad();
  // The parameter tensors (e.g. for gradient clipping).
  std::vector<torch::Tensor> ParameterTensors() const;

  // Updates taken so far (the bias-correction counter).
  int64_t step_count() const { return step_count_; }

  // "exp_avg.<name>" and "exp_avg_sq.<name>" for every parameter (zeros before the first step).
  std::vector<std::pair<std::string, torch::Tensor>> StateTensors() const;
  // Restores what StateTensors() returned together with the step count. Errors name the missing
  // or misshaped tensor; on error nothing is changed.
  Status LoadState(const std::map<std::string, torch::Tensor>& state, int64_t step_count);

 private:
  std::vector<Parameter> parameters_;
  std::vector<torch::Tensor> exp_avg_;
  std::vector<torch::Tensor> exp_avg_sq_;
  AdamWOptions options_;
  int64_t step_count_ = 0;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_ADAMW_H_
