#include "learner/online/sharded_image_encoder.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "learner/base/cpu_runtime.h"

namespace perennial {
namespace {

int ThreadsPerPart(int parts) { return std::max(1, at::get_num_threads() / parts); }

}  // namespace

ShardedImageEncoder::ShardedImageEncoder(const ClipModel* model, int parts)
    : model_(model), parts_(std::max(1, parts)), errors_(parts_) {}

ShardedImageEncoder::~ShardedImageEncoder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ShardedImageEncoder::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    std::function<void(int)> task;
    int threads = 1;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= task_parts_) continue;
      task = task_;
      threads = task_threads_;
    }
    try {
      SetCallingThreadIntraOpThreads(threads);
      task(index);
    } catch (...) {
      errors_[index] = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (--running_ == 0) work_done_.notify_one();
  }
}

void ShardedImageEncoder::RunParts(int n, int threads, const std::function<void(int)>& task) {
  const int caller_threads = at::get_num_threads();
  std::fill(errors_.begin(), errors_.end(), nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = task;
    task_parts_ = n;
    task_threads_ = threads;
    running_ = n - 1;
    ++generation_;
  }
  work_ready_.notify_all();
  try {
    SetCallingThreadIntraOpThreads(threads);
    task(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  {
    std::unique_lock<std::mutex> lock(mutex_);
    work_done_.wait(lock, [&] { return running_ == 0; });
    task_ = nullptr;
  }
  SetCallingThreadIntraOpThreads(caller_threads);
  for (const std::exception_ptr& e : errors_) {
    if (e) std::rethrow_exception(e);
  }
}

torch::Tensor ShardedImageEncoder::Encode(const torch::Tensor& pixels,
                                          const Adapters* adapters) {
  const std::vector<torch::Tensor> chunks =
      pixels.chunk(std::min<int64_t>(parts_, pixels.size(0)), 0);
  const int n = static_cast<int>(chunks.size());
  // Started here rather than in the constructor: from the training thread, whose priority they
  // inherit (the server lowers its learner thread's, so that queries come first).
  for (int i = static_cast<int>(workers_.size()) + 1; i < parts_; ++i) {
    workers_.emplace_back(&ShardedImageEncoder::WorkerLoop, this, i);
  }
  outputs_.assign(n, torch::Tensor());
  RunParts(n, ThreadsPerPart(n), [&](int i) {
    outputs_[i] = model_->EncodeImage(chunks[i], adapters, /*training=*/true);
  });
  cuts_.clear();
  for (const torch::Tensor& out : outputs_) {
    cuts_.push_back(out.detach().requires_grad_(out.requires_grad()));
  }
  return torch::cat(cuts_);
}

void ShardedImageEncoder::Backward() {
  const int n = static_cast<int>(outputs_.size());
  RunParts(n, ThreadsPerPart(n), [&](int i) {
    if (outputs_[i].requires_grad() && cuts_[i].grad().defined()) {
      outputs_[i].backward(cuts_[i].grad());
    }
  });
  outputs_.clear();
  cuts_.clear();
}

}  // namespace perennial
