#include "server/query_batcher.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "learner/base/cpu_runtime.h"
#include "learner/base/torch_status.h"

namespace perennial {

// One EncodeImages call: its rows are queued as separate items, so a large request can be split
// over several batches and small ones can share a batch.
struct QueryBatcher::Request {
  std::shared_ptr<const ServedModel> snapshot;
  torch::Tensor pixels;  // [N, 3, R, R]
  std::atomic<bool> abandoned{false};

  absl::Mutex mu;
  std::vector<torch::Tensor> rows ABSL_GUARDED_BY(mu);  // [E] each, filled as batches finish
  int64_t remaining ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);
  absl::Notification done;

  // Records the outcome of one row; notifies when all rows are in or on the first error.
  void Finish(int64_t row, absl::StatusOr<torch::Tensor> feature) {
    absl::MutexLock lock(&mu);
    if (done.HasBeenNotified()) return;
    if (!feature.ok()) {
      status = feature.status();
      done.Notify();
      return;
    }
    rows[row] = *std::move(feature);
    if (--remaining == 0) done.Notify();
  }
};

QueryBatcher::QueryBatcher(const ModelHost* host, QueryBatcherOptions options,
                           BatchObserver observer)
    : host_(host), options_(options), observer_(std::move(observer)) {
  thread_ = std::thread([this] { Run(); });
}

QueryBatcher::~QueryBatcher() { Stop(); }

void QueryBatcher::Stop() {
  std::deque<Item> dropped;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  for (Item& item : dropped) {
    item.request->Finish(item.row, absl::UnavailableError("the server is shutting down"));
    ReleasePending(1);
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<torch::Tensor> QueryBatcher::EncodeImages(
    std::shared_ptr<const ServedModel> snapshot, torch::Tensor pixels, absl::Time deadline) {
  const int64_t n = pixels.size(0);
  if (n == 0) return absl::InvalidArgumentError("no images to encode");
  auto request = std::make_shared<Request>();
  request->snapshot = std::move(snapshot);
  request->pixels = std::move(pixels);
  {
    absl::MutexLock lock(&request->mu);
    request->rows.resize(n);
    request->remaining = n;
  }
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the server is shutting down");
    if (queue_.size() + n > options_.max_queue_images) {
      return absl::ResourceExhaustedError(
          absl::StrCat("query queue full (", queue_.size(), " images queued, limit ",
                       options_.max_queue_images, "); retry later"));
    }
    const absl::Time now = absl::Now();
    for (int64_t row = 0; row < n; ++row) queue_.push_back(Item{request, row, now});
    pending_.fetch_add(n, std::memory_order_acq_rel);
  }
  if (!request->done.WaitForNotificationWithDeadline(deadline)) {
    request->abandoned.store(true, std::memory_order_release);
    return absl::DeadlineExceededError(
        absl::StrCat("encoding ", n, " image(s) did not finish before the deadline"));
  }
  absl::MutexLock lock(&request->mu);
  if (!request->status.ok()) return request->status;
  return CatchTorch("stacking image features", [&]() -> absl::StatusOr<torch::Tensor> {
    return torch::stack(request->rows, 0);
  });
}

bool QueryBatcher::WaitForIdle(absl::Duration timeout) const {
  auto idle = [this] { return !QueriesPending(); };
  absl::MutexLock lock(&idle_mu_);
  return idle_mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void QueryBatcher::ReleasePending(int64_t images) {
  if (pending_.fetch_sub(images, std::memory_order_acq_rel) == images) {
    // absl::Mutex re-evaluates its waiters' conditions when it is released: taking and releasing
    // idle_mu_ after pending_ reached zero wakes WaitForIdle() at once, without it polling.
    absl::MutexLock lock(&idle_mu_);
  }
}

bool QueryBatcher::NextBatch(std::vector<Item>* batch) {
  batch->clear();
  absl::MutexLock lock(&mu_);
  auto has_work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
  mu_.Await(absl::Condition(&has_work));
  if (stopping_) return false;
  // Wait for a full batch or the oldest item's delay, whichever comes first.
  const absl::Time flush_at = queue_.front().enqueued + options_.max_queue_delay;
  auto full = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stopping_ || queue_.size() >= static_cast<size_t>(options_.max_batch_size);
  };
  mu_.AwaitWithDeadline(absl::Condition(&full), flush_at);
  if (stopping_) return false;
  // The batch: the oldest item's snapshot, and every queued item of the same snapshot in order.
  const ServedModel* snapshot = queue_.front().request->snapshot.get();
  std::deque<Item> rest;
  while (!queue_.empty()) {
    Item item = std::move(queue_.front());
    queue_.pop_front();
    if (item.request->abandoned.load(std::memory_order_acquire)) {
      ReleasePending(1);
    } else if (item.request->snapshot.get() == snapshot &&
               batch->size() < static_cast<size_t>(options_.max_batch_size)) {
      batch->push_back(std::move(item));
    } else {
      rest.push_back(std::move(item));
    }
  }
  queue_.swap(rest);
  return true;
}

void QueryBatcher::Encode(const std::vector<Item>& batch) {
  const absl::Time start = absl::Now();
  absl::StatusOr<torch::Tensor> features =
      CatchTorch("encoding a query batch", [&]() -> absl::StatusOr<torch::Tensor> {
        torch::NoGradGuard no_grad;
        std::vector<torch::Tensor> pixels;
        pixels.reserve(batch.size());
        for (const Item& item : batch) pixels.push_back(item.request->pixels[item.row]);
        return host_->model()
            .EncodeImage(torch::stack(pixels, 0),
                         batch.front().request->snapshot->adapters_or_null())
            .to(torch::kCPU, torch::kFloat32);
      });
  // Observed before any reply is released: a client that reads the metrics after its answer
  // then sees its batch (the metrics test raced here).
  if (observer_) observer_(static_cast<int>(batch.size()), absl::Now() - start);
  // Released before the replies too: a client that has its answer sees no query of its own
  // pending (the query batcher test raced here), and the learner resumes a little sooner.
  ReleasePending(static_cast<int64_t>(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) {
    if (features.ok()) {
      batch[i].request->Finish(batch[i].row, (*features)[static_cast<int64_t>(i)]);
    } else {
      batch[i].request->Finish(batch[i].row, features.status());
    }
  }
}

void QueryBatcher::Run() {
  if (options_.intra_op_threads > 0) SetCallingThreadIntraOpThreads(options_.intra_op_threads);
  std::vector<Item> batch;
  while (NextBatch(&batch)) {
    if (batch.empty()) continue;
    Encode(batch);
  }
}

}  // namespace perennial
