// File: learner/pretrain/batch_stream.h
//
// Training batches of the synthetic world, produced ahead of the training loop on one background
// thread: batch b is GenerateBatch(seed, b, batch_size, world at the curriculum level of step b),
// its images normalised with CLIP's mean/std (the model's preprocessing: the world renders at the
// model resolution, so there is nothing to resize) and its captions deduplicated and tokenized.
// Batches are a pure function of their index, so a resumed run sees exactly the same data.
//
// Thread-safety: Next() must be called from one thread; the producer thread is internal and
// joined by the destructor.
#ifndef PERENNIAL_LEARNER_PRETRAIN_BATCH_STREAM_H_
#define PERENNIAL_LEARNER_PRETRAIN_BATCH_STREAM_H_

#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "learner/data/synthetic_world.h"
#include "learner/model/tokenizer.h"
#include "learner/pretrain/pretrain_options.h"

namespace perennial {

struct PretrainBatch {
  int64_t index = 0;            // the step this batch is for
  torch::Tensor pixels;         // [N, 3, R, R] float32, normalised
  torch::Tensor tokens;         // [M, L] int64, the M distinct captions
  torch::Tensor caption_index;  // [N] int64: sample i's caption is tokens row caption_index[i]
  torch::Tensor positives;      // [N, M] float32: 1 where caption m is a positive of image n
                                // (its own, or any true of it: all_true_captions_positive)
  std::vector<std::string> captions;  // the M distinct caption texts
};

// Builds batch `index` synchronously (what the stream's thread runs).
PretrainBatch MakePretrainBatch(const PretrainOptions& options, const Tokenizer& tokenizer,
                                int64_t index);

// [N, 3, R, R] float32 of RGB uint8 images normalised with CLIP's mean and std, as
// PreprocessBatch() returns for images already at the model resolution.
torch::Tensor NormalizeImages(const std::vector<const Image*>& images);

class BatchStream {
 public:
  // Starts producing batches first_index, first_index + 1, ... up to options.steps - 1, keeping
  // at most options.prefetch_batches ready. `options` and `tokenizer` are copied.
  BatchStream(const PretrainOptions& options, const Tokenizer& tokenizer, int64_t first_index);
  ~BatchStream();
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  // The next batch in index order; blocks until it is ready.
  PretrainBatch Next();

 private:
  void Produce(int64_t first_index);

  const PretrainOptions options_;
  const Tokenizer tokenizer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<PretrainBatch> ready_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_PRETRAIN_BATCH_STREAM_H_
