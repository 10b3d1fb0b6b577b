#include "bench/attention_backend.h"

#include <ATen/Context.h>
#include <torch/version.h>

namespace perennial::bench {

bool SelectAttentionBackend(const std::string& name, std::string* error) {
  if (name == "auto") return true;
  if (name != "cudnn" && name != "flash" && name != "efficient" && name != "math") {
    *error = "unknown attention backend '" + name + "' (known: " + kAttentionBackendNames + ")";
    return false;
  }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  at::Context& context = at::globalContext();
  context.setSDPUseCuDNN(name == "cudnn");
  context.setSDPUseFlash(name == "flash");
  context.setSDPUseMemEfficient(name == "efficient");
  // The math kernel stays on: it is the CPU's, for the CUDA-vs-CPU check. On CUDA a restriction
  // the shapes do not meet falls back to it, which shows as a much slower step.
  context.setSDPUseMath(true);
  return true;
#else
  *error = "selecting the attention backend needs LibTorch >= 2.5 (this is " +
           std::string(TORCH_VERSION) + ")";
  return false;
#endif
}

}  // namespace perennial::bench
