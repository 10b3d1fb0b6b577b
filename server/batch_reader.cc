#include "server/batch_reader.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "learner/base/cpu_runtime.h"
#include "learner/base/torch_status.h"
#include "proto/timestamp.h"
#include "server/validation.h"
#include "storage/store.h"

namespace perennial {
absl::StatusOr<torch::Tensor> DecodeLoggedImage(const v1::StoredSample& stored,
                                                const ServerLimits& limits, int draft_min_side,
                                                const PreprocessOptions& preprocess) {
  absl::StatusOr<Image> image =
      DecodeRequestImage(stored.sample().image(), limits, "logged image", draft_min_side);
  if (!image.ok()) return image.status();
  return CatchTorch("preprocessing a logged image", [&]() -> absl::StatusOr<torch::Tensor> {
    return PreprocessImage(*image, preprocess);
  });
}

BatchReader::BatchReader(const Store* store, BatchReaderOptions options)
    : store_(store), options_(std::move(options)) {
  for (int i = 1; i < options_.decode_threads; ++i) {
    decoders_.push_back(std::make_unique<HelperThread>(/*intra_op_threads=*/1));
  }
  if (options_.prefetch) thread_ = std::thread([this] { Run(); });
}

BatchReader::~BatchReader() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

DecodedBatch BatchReader::Take(uint64_t after_seq) {
  std::optional<DecodedBatch> batch;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::optional<uint64_t>* reading) { return !reading->has_value(); }, &reading_));
    if (ready_.has_value() && ready_->after_seq == after_seq) batch = std::move(ready_);
    ready_.reset();  // a batch for another cursor (a Restore moved it) is stale
    requested_.reset();
  }
  if (!batch.has_value()) batch = Read(after_seq);
  if (options_.prefetch &&
      store_->LastSeq() >= batch->last_seq + static_cast<uint64_t>(options_.batch_size)) {
    absl::MutexLock lock(&mu_);
    requested_ = batch->last_seq;
  }
  return *std::move(batch);
}

uint64_t BatchReader::batches_prepared() const {
  absl::MutexLock lock(&mu_);
  return batches_prepared_;
}

std::vector<absl::StatusOr<torch::Tensor>> BatchReader::DecodeAll(
    const std::vector<v1::StoredSample>& records) {
  std::vector<absl::StatusOr<torch::Tensor>> decoded(records.size(),
                                                     absl::UnknownError("not decoded"));
  // Thread t decodes records t, t + threads, ...: images of one stream cost about the same.
  const size_t threads = std::min(decoders_.size() + 1, records.size());
  auto decode_share = [&](size_t first) {
    for (size_t i = first; i < records.size(); i += threads) {
      decoded[i] = DecodeLoggedImage(records[i], options_.limits, options_.draft_min_side,
                                     options_.preprocess);
    }
  };
  std::vector<HelperThread::Task> tasks;
  for (size_t t = 1; t < threads; ++t) {
    tasks.push_back(decoders_[t - 1]->Start([&decode_share, t] { decode_share(t); }));
  }
  decode_share(0);
  for (HelperThread::Task& task : tasks) task.Wait();
  return decoded;
}

DecodedBatch BatchReader::Read(uint64_t after_seq) {
  DecodedBatch batch;
  batch.after_seq = after_seq;
  batch.last_seq = after_seq;
  const auto batch_size = static_cast<size_t>(options_.batch_size);
  while (batch.train_pixels.size() < batch_size) {
    const size_t want = std::min(kLogReadChunk, batch_size - batch.train_pixels.size());
    absl::StatusOr<std::vector<v1::StoredSample>> logged =
        store_->ReadSamples(batch.last_seq + 1, want);
    if (!logged.ok()) {
      std::cerr << "learner: reading the log after " << batch.last_seq << ": " << logged.status()
                << std::endl;
      break;
    }
    if (logged->empty()) break;
    std::vector<absl::StatusOr<torch::Tensor>> decoded = DecodeAll(*logged);
    for (size_t i = 0; i < logged->size(); ++i) {
      const v1::StoredSample& stored = (*logged)[i];
      if (batch.last_seq == after_seq)
        batch.oldest_received = FromProtoTimestamp(stored.received_time());
      batch.last_seq = stored.seq();
      absl::StatusOr<torch::Tensor>& pixels = decoded[i];
      if (!pixels.ok()) {
        ++batch.skipped;
        std::cerr << "learner: skipping sample " << stored.seq() << ": " << pixels.status()
                  << std::endl;
        continue;
      }
      const bool eval = stored.sample().split() == v1::Sample::EVAL;
      (eval ? batch.eval_pixels : batch.train_pixels).push_back(*std::move(pixels));
      (eval ? batch.eval_labels : batch.train_labels).push_back(TrimLabel(stored.sample().label()));
    }
  }
  return batch;
}

void BatchReader::Run() {
  // Before this thread's first LibTorch op, so that an OpenMP team it starts inherits both.
  if (options_.nice > 0) LowerCallingThreadPriority(options_.nice);
  SetCallingThreadIntraOpThreads(1);
  while (true) {
    uint64_t after_seq = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BatchReader* self) { return self->stopping_ || self->requested_.has_value(); },
          this));
      if (stopping_) return;
      after_seq = *requested_;
      requested_.reset();
      reading_ = after_seq;
    }
    DecodedBatch batch = Read(after_seq);
    absl::MutexLock lock(&mu_);
    ready_ = std::move(batch);
    reading_.reset();
    ++batches_prepared_;
  }
}

}  // namespace perennial
