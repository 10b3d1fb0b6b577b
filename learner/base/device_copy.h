// File: learner/base/device_copy.h
//
// Host-to-device copies that do not stall a CUDA stream. LibTorch's blocking copy of a pageable
// CPU tensor to a CUDA device synchronises the stream: the host waits until every kernel queued
// before it has run, and the GPU then idles while the host queues the next ones. A training step
// that copies its labels after queueing the forward pass pays that in the middle of the step.
#ifndef PERENNIAL_LEARNER_BASE_DEVICE_COPY_H_
#define PERENNIAL_LEARNER_BASE_DEVICE_COPY_H_

#include <torch/torch.h>

namespace perennial {

// `host` on `device`. A CPU tensor bound for CUDA goes through pinned memory with a non-blocking
// copy, ordered on the current stream (LibTorch keeps the pinned block until the copy is done);
// every other case is a plain .to(device).
torch::Tensor CopyToDevice(const torch::Tensor& host, const torch::Device& device);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_DEVICE_COPY_H_
