#include "learner/online/sharded_image_encoder.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <exception>

#include "learner/base/cpu_runtime.h"

namespace perennial {
namespace {

int ThreadsPerPart(int parts) { return std::max(1, at::get_num_threads() / parts); }

}  // namespace

ShardedImageEncoder::ShardedImageEncoder(const ClipModel* model, int parts)
    : model_(model), parts_(std::max(1, parts)) {}

void ShardedImageEncoder::RunParts(int n, const std::function<void(int)>& part) {
  const int threads = ThreadsPerPart(n);
  // Created here rather than in the constructor: the helpers take their intra-op share from the
  // training thread's count, and start from that thread, whose priority they inherit.
  while (static_cast<int>(helpers_.size()) < parts_ - 1) {
    helpers_.push_back(std::make_unique<HelperThread>(ThreadsPerPart(parts_)));
  }
  std::vector<HelperThread::Task> tasks;  // each waited for, even when part 0 throws
  tasks.reserve(n - 1);
  for (int i = 1; i < n; ++i) tasks.push_back(helpers_[i - 1]->Start([&part, i] { part(i); }));
  const int caller_threads = at::get_num_threads();
  SetCallingThreadIntraOpThreads(threads);
  std::exception_ptr error;
  try {
    part(0);
  } catch (...) {
    error = std::current_exception();
  }
  SetCallingThreadIntraOpThreads(caller_threads);
  if (error) std::rethrow_exception(error);
  for (HelperThread::Task& task : tasks) task.Wait();
}

torch::Tensor ShardedImageEncoder::Encode(const torch::Tensor& pixels, const Adapters* adapters) {
  const std::vector<torch::Tensor> chunks =
      pixels.chunk(std::min<int64_t>(parts_, pixels.size(0)), 0);
  const int n = static_cast<int>(chunks.size());
  outputs_.assign(n, torch::Tensor());
  RunParts(
      n, [&](int i) { outputs_[i] = model_->EncodeImage(chunks[i], adapters, /*training=*/true); });
  cuts_.clear();
  for (const torch::Tensor& out : outputs_) {
    cuts_.push_back(out.detach().requires_grad_(out.requires_grad()));
  }
  return torch::cat(cuts_);
}

void ShardedImageEncoder::Backward() {
  const int n = static_cast<int>(outputs_.size());
  RunParts(n, [&](int i) {
    if (outputs_[i].requires_grad() && cuts_[i].grad().defined()) {
      outputs_[i].backward(cuts_[i].grad());
    }
  });
  outputs_.clear();
  cuts_.clear();
}

}  // namespace perennial
