// File: server/batch_reader.h
//
// The learner's input pipeline: reads its next batch from the sample log and decodes and
// preprocesses the images, ahead of time. Decoding is the learner's own work as long as it runs
// on the learner thread: one 640x480 JPEG took ~2 ms to decode and ~2.4 ms to resize for the
// default model (bench/README.md), 16 of them ~70 ms against a ~42 ms training step. So while the
// learner trains on one batch, a reader thread prepares the next one whenever the log already
// holds it in full (a backlog); when the learner is caught up, it reads on demand.
//
// The reader thread runs at the learner's priority (queries preempt it) with one LibTorch
// intra-op thread.
//
// Thread-safety: Take() from one thread at a time (the learner's); the store must outlive the
// reader.
#ifndef PERENNIAL_SERVER_BATCH_READER_H_
#define PERENNIAL_SERVER_BATCH_READER_H_

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "learner/base/helper_thread.h"
#include "learner/model/preprocess.h"
#include "perennial/v1/sample.pb.h"
#include "server/limits.h"

namespace perennial {

class Store;

// Log records read per store call (a batch's, and the held-out rescan's at start-up).
inline constexpr size_t kLogReadChunk = 64;

// Decodes a logged sample's image (a JPEG reduced as DecodeOptions::draft_min_side says) and
// preprocesses it into [3, R, R]. Errors name the cause (an image that no longer decodes, a
// LibTorch failure).
absl::StatusOr<torch::Tensor> DecodeLoggedImage(const v1::StoredSample& stored,
                                                const ServerLimits& limits, int draft_min_side,
                                                const PreprocessOptions& preprocess);

// One batch of the log, decoded: its TRAIN samples for a step, its EVAL samples for the
// held-out set.
struct DecodedBatch {
  // The cursor the batch starts after, and the cursor once it is consumed (== after_seq when
  // the log held nothing after it).
  uint64_t after_seq = 0;
  uint64_t last_seq = 0;
  // received_time of its first sample (absl::Time() when empty).
  absl::Time oldest_received;
  std::vector<torch::Tensor> train_pixels;  // [3, R, R] each
  std::vector<std::string> train_labels;    // trimmed
  std::vector<torch::Tensor> eval_pixels;
  std::vector<std::string> eval_labels;
  // Samples that did not decode (reported on stderr by the reader).
  uint64_t skipped = 0;
};

struct BatchReaderOptions {
  // TRAIN samples per batch. Default: 16.
  int batch_size = 16;
  // What decoding a logged image enforces. Default: ServerLimits().
  ServerLimits limits;
  // DecodeOptions::draft_min_side of the images (ModelHost::jpeg_draft_min_side). Default: 0.
  int draft_min_side = 0;
  // The model's preprocessing. Default: PreprocessOptions().
  PreprocessOptions preprocess;
  // Prepare the next batch on a reader thread while the caller trains. Default: true.
  bool prefetch = true;
  // Added to the reader thread's nice value (the learner's). Default: 0.
  int nice = 0;
  // Threads that decode one batch's images together: the reading thread and decode_threads - 1
  // helpers (one LibTorch thread each). More than one pays where cores are spare, e.g. beside a
  // GPU learner, which trains a batch of the default model in a few milliseconds. Default: 1.
  int decode_threads = 1;
};

class BatchReader {
 public:
  BatchReader(const Store* store, BatchReaderOptions options);
  ~BatchReader();  // waits for a batch being read

  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // The samples after `after_seq`, up to batch_size TRAIN ones or the log's end when they were
  // read: the prepared batch when it starts at `after_seq` (waiting for it if it is being
  // read), else read on the calling thread. Then, if the log already holds batch_size samples
  // after the returned batch, starts preparing the next one.
  DecodedBatch Take(uint64_t after_seq);

  // Batches the reader thread has prepared so far (taken or not).
  uint64_t batches_prepared() const;

 private:
  DecodedBatch Read(uint64_t after_seq);
  // Decodes every record, on the calling thread and the helpers; one result per record.
  std::vector<absl::StatusOr<torch::Tensor>> DecodeAll(
      const std::vector<v1::StoredSample>& records);
  void Run();

  const Store* const store_;
  const BatchReaderOptions options_;
  // decode_threads - 1 of them. Read() never runs on two threads at once (Take reads only when
  // the reader thread does not), so one caller at a time uses them.
  std::vector<std::unique_ptr<HelperThread>> decoders_;

  mutable absl::Mutex mu_;
  uint64_t batches_prepared_ ABSL_GUARDED_BY(mu_) = 0;
  // The batch to prepare next (set by Take, cleared by the reader when it starts).
  std::optional<uint64_t> requested_ ABSL_GUARDED_BY(mu_);
  // The batch being read, and the one ready.
  std::optional<uint64_t> reading_ ABSL_GUARDED_BY(mu_);
  std::optional<DecodedBatch> ready_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_SERVER_BATCH_READER_H_
