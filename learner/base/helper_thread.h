// File: learner/base/helper_thread.h
//
// One long-lived thread that runs a task for its owner while the owner does other work: the
// learner's sit+vrlwf step computes its teacher's image features there, concurrently with the
// student's forward, on a core the learner thread does not use.
//
// The thread starts with the first task, not in the constructor, so that it inherits the
// priority of the thread that uses it (the server lowers its learner thread's so that queries
// come first), and it lives as long as the object: a thread's first LibTorch op initialises
// per-thread state (ATen's thread pool, oneDNN's kernel cache), far too slow to pay per task.
// Each task runs with `intra_op_threads` LibTorch threads and the yield hook of the thread that
// started it (yield_point.h).
#ifndef PERENNIAL_LEARNER_BASE_HELPER_THREAD_H_
#define PERENNIAL_LEARNER_BASE_HELPER_THREAD_H_

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace perennial {

class HelperThread {
 public:
  explicit HelperThread(int intra_op_threads = 1);
  ~HelperThread();  // waits for a running task, then ends the thread
  HelperThread(const HelperThread&) = delete;
  HelperThread& operator=(const HelperThread&) = delete;

  // A started task. Wait() blocks until it has ended and rethrows what it threw. The destructor
  // waits too (and drops an exception), so a task never outlives what it borrowed from the
  // frame that started it, even when that frame unwinds.
  class Task {
   public:
    ~Task();
    Task(Task&& other) noexcept;
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    Task& operator=(Task&&) = delete;
    void Wait();

   private:
    friend class HelperThread;
    explicit Task(HelperThread* owner) : owner_(owner) {}
    HelperThread* owner_;  // null once waited for
  };

  // Starts `task` on the helper thread and returns at once. One task at a time: the previous
  // one must have been waited for. Call from one thread.
  Task Start(std::function<void()> task);

 private:
  void Loop();
  std::exception_ptr WaitForTask();

  const int intra_op_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> task_;        // the task to run; empty when none is queued
  std::function<void()> yield_hook_;  // the starting thread's, for the task
  bool running_ = false;              // a task is queued or running
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_BASE_HELPER_THREAD_H_
