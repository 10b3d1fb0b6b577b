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
  context.setSDPUseMath(name == "math");
  return true;
#else
  *error = "selecting the attention backend needs LibTorch >= 2.5 (this is " +
           std::string(TORCH_VERSION) + ")";
  return false;
#endif
}

}  // namespace perennial::bench
