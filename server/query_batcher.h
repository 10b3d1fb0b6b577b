// File: server/query_batcher.h
//
// Dynamic batching of image encodings for Classify and EmbedImage on one dedicated query thread,
// with Triton's two knobs: a batch is run as soon as it holds `max_batch_size` images, or when
// the oldest queued image has waited `max_queue_delay`, whichever comes first. Images of
// different model versions are never mixed in one batch (each batch runs one snapshot's
// adapters).
//
// Queries take priority over training. The server and the learner share the CPU (or GPU); the
// learner thread must call `QueriesPending()` before each training step and, while it is true,
// `WaitForIdle()` (bounded) instead of starting the step; within a step it does the same at the
// model's yield points (LearningLoop), so a query shares the CPU with at most one transformer
// block of training. Queries never wait for a step to finish before they are queued: they run
// on the last published snapshot.
//
// Thread-safety: all methods may be called from any thread.
#ifndef PERENNIAL_SERVER_QUERY_BATCHER_H_
#define PERENNIAL_SERVER_QUERY_BATCHER_H_

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/model_host.h"

namespace perennial {

struct QueryBatcherOptions {
  // Most images encoded in one forward pass. Default: 32.
  int max_batch_size = 32;
  // Longest time the first image of a batch waits for more to arrive. Zero runs every batch as
  // soon as the thread is free (batching then only merges what queued up meanwhile): on the
  // 2-core development machine that took ~1 ms off a lone query and 0.7-1.3 ms off the p50 of
  // bench/service_bench.sh, whose pairs of queries rarely arrived within 1 ms of each other.
  // Default: 0.
  absl::Duration max_queue_delay = absl::ZeroDuration();
  // Images queued at most; beyond it EncodeImages fails with RESOURCE_EXHAUSTED. Default: 4096.
  size_t max_queue_images = 4096;
  // Intra-op threads of the query thread's forward passes; 0 leaves LibTorch's setting. On a
  // small machine one thread keeps a query beside a running training step from fighting it for
  // the cores (bench/service_bench.sh). Default: 0.
  int intra_op_threads = 0;
};

class QueryBatcher {
 public:
  // Called on the query thread after each batch with its size and forward-pass duration.
  using BatchObserver = std::function<void(int batch_size, absl::Duration duration)>;

  // `host` must outlive the batcher. Starts the query thread.
  QueryBatcher(const ModelHost* host, QueryBatcherOptions options, BatchObserver observer = {});
  // Stop()s.
  ~QueryBatcher();

  QueryBatcher(const QueryBatcher&) = delete;
  QueryBatcher& operator=(const QueryBatcher&) = delete;

  // Projected, unnormalised image features [N, E] (fp32, CPU) of `pixels` ([N, 3, R, R],
  // preprocessed) under `snapshot`. Blocks until done. Errors: DEADLINE_EXCEEDED when `deadline`
  // passes first (the queued work is then dropped), RESOURCE_EXHAUSTED when the queue is full,
  // UNAVAILABLE after Stop(), INTERNAL if the forward pass fails.
  absl::StatusOr<torch::Tensor> EncodeImages(std::shared_ptr<const ServedModel> snapshot,
                                             torch::Tensor pixels, absl::Time deadline);

  // Marks query work done outside the batcher (text embeddings on a gRPC thread) as pending
  // for the scope's lifetime, so that the learner yields to it as to queued images.
  class PendingScope {
   public:
    explicit PendingScope(QueryBatcher* batcher) : batcher_(batcher) {
      batcher_->pending_.fetch_add(1, std::memory_order_acq_rel);
    }
    ~PendingScope() { batcher_->ReleasePending(1); }
    PendingScope(const PendingScope&) = delete;
    PendingScope& operator=(const PendingScope&) = delete;

   private:
    QueryBatcher* const batcher_;
  };

  // True while an image is queued or being encoded, or a PendingScope is open.
  bool QueriesPending() const { return pending_.load(std::memory_order_acquire) > 0; }
  // Waits until QueriesPending() is false or `timeout` passes; returns !QueriesPending().
  bool WaitForIdle(absl::Duration timeout) const;

  // Fails queued work with UNAVAILABLE, finishes the running batch and joins the thread.
  // Idempotent.
  void Stop();

 private:
  struct Request;
  struct Item {
    std::shared_ptr<Request> request;
    int64_t row = 0;
    absl::Time enqueued;
  };

  void Run();
  // Takes the next batch from the queue (blocking); false when stopping.
  bool NextBatch(std::vector<Item>* batch);
  void Encode(const std::vector<Item>& batch);
  // Takes `images` off pending_ and wakes WaitForIdle() callers when none are left.
  void ReleasePending(int64_t images);

  const ModelHost* const host_;
  const QueryBatcherOptions options_;
  const BatchObserver observer_;

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Images queued or running.
  std::atomic<int64_t> pending_{0};
  // What WaitForIdle() sleeps on (pending_ itself is read without it).
  mutable absl::Mutex idle_mu_;
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_QUERY_BATCHER_H_
