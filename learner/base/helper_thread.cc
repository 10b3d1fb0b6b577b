#include "learner/base/helper_thread.h"

#include <utility>

#include "learner/base/cpu_runtime.h"
#include "learner/base/yield_point.h"

namespace perennial {

HelperThread::HelperThread(int intra_op_threads) : intra_op_threads_(intra_op_threads) {}

HelperThread::~HelperThread() {
  WaitForTask();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

HelperThread::Task HelperThread::Start(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = std::move(task);
    yield_hook_ = CurrentYieldHook();
    running_ = true;
    error_ = nullptr;
  }
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  cv_.notify_all();
  return Task(this);
}

void HelperThread::Loop() {
  SetCallingThreadIntraOpThreads(intra_op_threads_);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || task_; });
    if (stopping_) return;
    std::function<void()> task = std::move(task_);
    task_ = nullptr;
    const ScopedYieldHook hook(std::move(yield_hook_));
    lock.unlock();
    std::exception_ptr error;
    try {
      task();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    running_ = false;
    cv_.notify_all();
  }
}

std::exception_ptr HelperThread::WaitForTask() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !running_; });
  return std::exchange(error_, nullptr);
}

HelperThread::Task::Task(Task&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}

HelperThread::Task::~Task() {
  if (owner_ != nullptr) owner_->WaitForTask();
}

void HelperThread::Task::Wait() {
  if (owner_ == nullptr) return;
  std::exception_ptr error = std::exchange(owner_, nullptr)->WaitForTask();
  if (error) std::rethrow_exception(error);
}

}  // namespace perennial
