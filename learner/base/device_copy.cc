#include "learner/base/device_copy.h"

namespace perennial {

torch::Tensor CopyToDevice(const torch::Tensor& host, const torch::Device& device) {
  if (device.is_cuda() && host.device().is_cpu()) {
    return host.pin_memory().to(device, /*non_blocking=*/true);
  }
  return host.to(device);
}

}  // namespace perennial
