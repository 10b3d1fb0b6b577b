// File: learner/online/fused_adamw.h
//
// torch::optim::AdamW with a faster step() for many small parameters, such as LoRA's A and B
// of every block. LibTorch's step() runs about ten tensor operations per parameter: with ~200
// adapter tensors that is ~2,000 dispatches per step, which on a GPU are kernel launches that
// leave the device idle (a ViT-B/16 SIT step in bf16 on an H200 spent more time there than the
// PyTorch peer, whose AdamW is multi-tensor). FusedAdamW computes the same update
//   p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// either in one pass over each parameter's memory (fp32 CPU tensors) or with LibTorch's
// multi-tensor (_foreach) operations over all parameters at once (other devices and dtypes).
// The state (step, exp_avg, exp_avg_sq) is AdamW's own, so AppendAdamWState/RestoreAdamWState
// (adamw_state.h) save and restore it unchanged. amsgrad is not supported (rejected at
// construction); results agree with torch::optim::AdamW to float rounding.
#ifndef PERENNIAL_LEARNER_ONLINE_FUSED_ADAMW_H_
#define PERENNIAL_LEARNER_ONLINE_FUSED_ADAMW_H_

#include <torch/torch.h>

#include <vector>

namespace perennial {

class FusedAdamW : public torch::optim::AdamW {
 public:
  // How step() updates the parameters.
  enum class Kernel {
    kAuto,         // one pass for contiguous fp32 CPU parameters, multi-tensor otherwise
    kOnePass,      // one loop per parameter (contiguous fp32 CPU parameters only)
    kMultiTensor,  // LibTorch's _foreach operations, all parameters of a step count together
  };

  // Throws c10::Error (like AdamW's own constructor) when options.amsgrad() is set.
  FusedAdamW(std::vector<torch::Tensor> params, torch::optim::AdamWOptions options,
             Kernel kernel = Kernel::kAuto);

  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  Kernel kernel_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_FUSED_ADAMW_H_
