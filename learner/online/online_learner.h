// File: learner/online/online_learner.h
//
// The online lifelong learner: consumes batches of (preprocessed image, label text) in stream
// order and tunes PET adapters (pet.h) on a frozen, shared CLIP model, one batch at a time.
//
// Each Observe() call
//   1. adds the batch's new label texts to the label set (it only grows; order of first sight),
//   2. optionally predicts the batch first (prequential, test-then-train accuracy),
//   3. runs options.online_iters optimizer steps whose loss is composed from the method's
//      LossRecipe (online_options.h) by one code path:
//        CE   = cross-entropy of exp(logit_scale) * cos(image, class text) over the recipe's
//               classes (SIT: the batch's; asym-ft/er: all seen), replay rows mixed in for er;
//        KD_v = T^2 KL(teacher || student) over image -> K pseudo-class logits at temperature T,
//               pseudo-classes drawn from the replayed vocabulary, teacher = base model (no
//               adapters), its text features cached (sit+vrlwf);
//        KD_s = the same against the last published snapshot over all seen labels (lwf);
//        loss = CE + lambda * KD,
//   4. offers the batch to the replay buffer (er), and publishes a ModelSnapshot every
//      publish_every_k_steps steps.
//
// Determinism: every random draw (replay, vocabulary, LoRA dropout) is seeded from (seed,
// counter) (derived_seed.h). SaveState() captures adapters, AdamW state, replay buffer, label
// set, counters and the current snapshot; RestoreState() into a learner created with the same
// model and options continues bit-for-bit like the uninterrupted run on CPU (same thread count).
// LoRA dropout draws from LibTorch's default generator of the model's device, reseeded per step
// and put back afterwards; other threads drawing from that generator during a step would
// interleave with it.
//
// Thread-safety: Observe, Publish, SaveState and RestoreState must be called from one thread
// (the learner thread). snapshot() may be called from any thread at any time.
#ifndef PERENNIAL_LEARNER_ONLINE_ONLINE_LEARNER_H_
#define PERENNIAL_LEARNER_ONLINE_ONLINE_LEARNER_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "learner/base/helper_thread.h"
#include "learner/base/status.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/tokenizer.h"
#include "learner/online/model_snapshot.h"
#include "learner/online/online_options.h"
#include "learner/online/replay_buffer.h"
#include "learner/online/replay_vocabulary.h"
#include "learner/online/sharded_image_encoder.h"

namespace perennial {

struct ObserveResult {
  // Optimizer steps taken (0 for frozen).
  int steps = 0;
  // Mean over the steps of the total loss, and the last step's parts (0 when no step ran).
  double loss = 0;
  double ce_loss = 0;
  double kd_loss = 0;
  // Number of classes the last step's cross-entropy ran over (the logits' width), and of
  // distillation classes (K pseudo-classes, or the seen labels for lwf; 0 without KD).
  int64_t ce_classes = 0;
  int64_t kd_classes = 0;
  // Prequential: rows predicted correctly over all seen labels before training on the batch.
  int64_t prequential_correct = 0;
  int64_t prequential_count = 0;
  // Whether a snapshot was published during this call.
  bool published = false;
};

class OnlineLearner {
 public:
  // `model` and `tokenizer` are borrowed and must outlive the learner. `vocabulary` is the
  // sit+vrlwf word list; when empty, DefaultWordListPath() is read (error if there is none).
  // Errors: invalid options, adapters that do not fit the model, an unusable vocabulary.
  static StatusOr<std::unique_ptr<OnlineLearner>> Create(const ClipModel* model,
                                                         const Tokenizer* tokenizer,
                                                         const OnlineLearnerOptions& options,
                                                         std::vector<std::string> vocabulary = {});

  OnlineLearner(const OnlineLearner&) = delete;
  OnlineLearner& operator=(const OnlineLearner&) = delete;

  // Learns from one batch: pixels [N, 3, R, R] (preprocessed, any device; moved to the model's),
  // labels[i] the label text of row i (non-empty). Errors (nothing changes): shape mismatch,
  // empty label; LibTorch failures become Status (the state may then be partially updated).
  StatusOr<ObserveResult> Observe(const torch::Tensor& pixels,
                                  const std::vector<std::string>& labels);

  // Publishes the current adapters and label set now.
  Status Publish();

  // The last published snapshot; never null. Thread-safe (atomic shared_ptr load).
  std::shared_ptr<const ModelSnapshot> snapshot() const;

  // Full learner state as bytes (safetensors: tensors + metadata), and its inverse. RestoreState
  // expects a learner created with the same model and options; errors name what does not fit.
  StatusOr<std::string> SaveState() const;
  Status RestoreState(const std::string& bytes);

  const OnlineLearnerOptions& options() const { return options_; }
  const LossRecipe& recipe() const { return recipe_; }
  // Learner-thread accessors.
  const Adapters& adapters() const { return adapters_; }
  const std::vector<std::string>& labels() const { return labels_; }
  int64_t step() const { return step_; }
  int64_t samples_seen() const { return samples_seen_; }
  const ReplayBuffer& replay_buffer() const { return replay_; }
  // Null unless the method distils on the replayed vocabulary.
  const ReplayVocabulary* vocabulary() const { return vocabulary_ ? &*vocabulary_ : nullptr; }

 private:
  struct StepOutcome {
    double loss = 0, ce = 0, kd = 0;
    int64_t ce_classes = 0, kd_classes = 0;
  };

  OnlineLearner(const ClipModel* model, const Tokenizer* tokenizer, OnlineLearnerOptions options,
                Adapters adapters);

  void ResetOptimizer();
  std::vector<int64_t> AddLabels(const std::vector<std::string>& labels);
  // Rows of the batch whose best match over all seen labels is their target, with the current
  // adapters: from pixels, or from the batch's unit image features when a forward already ran.
  int64_t CountCorrect(const torch::Tensor& pixels, const std::vector<int64_t>& targets);
  // The same count from features already computed: `unit_image` [B, E] and `all_classes`, the
  // [labels, E] class vectors of every seen label in id order.
  int64_t CountCorrectFromFeatures(const torch::Tensor& unit_image,
                                   const std::vector<int64_t>& targets,
                                   const torch::Tensor& all_classes) const;
  // Class vectors of every seen label in id order, no autograd: the rows of `ids` are taken
  // from `features` (computed by this step with the current adapters), the rest are encoded.
  torch::Tensor AllClassFeatures(const std::vector<int64_t>& ids,
                                 const torch::Tensor& features) const;
  // What a KD teacher computed from one Observe()'s pixels, kept for its later online
  // iterations (without replay rows every iteration sees the same pixels): the base model's unit
  // image features (sit+vrlwf; the vocabulary words are drawn anew each step), and the logits of
  // `snapshot` over all seen labels (lwf; recomputed when a publication replaced the snapshot).
  struct TeacherCache {
    torch::Tensor base_image;
    torch::Tensor snapshot_logits;
    std::shared_ptr<const ModelSnapshot> snapshot;
  };
  // One optimizer step. When `prequential_correct` is not null it receives CountCorrect() of the
  // batch before the update, computed from this step's own image forward (exact when LoRA
  // dropout is off: the training forward then equals the inference forward). `teacher`, when
  // not null, holds teacher outputs for these very pixels from an earlier step, or receives them.
  StepOutcome Step(const torch::Tensor& pixels, const std::vector<int64_t>& targets,
                   int64_t* prequential_correct, TeacherCache* teacher);
  // The base model's (no adapters) unit image features of `pixels`, no autograd.
  torch::Tensor BaseImageFeatures(const torch::Tensor& pixels) const;
  // With options_.parallel_teacher: starts BaseImageFeatures(pixels) into teacher->base_image on
  // the helper thread, unless it is there already (or `teacher` is null). The caller waits for
  // the task before reading the features; `pixels` and `*teacher` must outlive it.
  std::optional<HelperThread::Task> StartParallelTeacher(const torch::Tensor& pixels,
                                                         TeacherCache* teacher);
  // Teacher logits of the KD recipes, no autograd: the base model (no adapters) against the
  // vocabulary `words`, and the last published snapshot against every seen label; each reads
  // and fills `teacher` when it is not null.
  torch::Tensor VocabularyTeacherLogits(const torch::Tensor& pixels,
                                        const std::vector<int64_t>& words,
                                        const torch::Tensor& scale, TeacherCache* teacher);
  torch::Tensor SnapshotTeacherLogits(const torch::Tensor& pixels, const torch::Tensor& scale,
                                      TeacherCache* teacher) const;
  // [C, E] unit-norm class vectors of label ids (mean over templates), with autograd when
  // `adapters` are being trained. `extra_tokens` ([M, context], may be undefined) are encoded
  // in the same text forward, their [M, E] unit features stored in `*extra_features`: one pass
  // through the tower instead of two (sit+vrlwf's vocabulary words).
  torch::Tensor ClassFeatures(const std::vector<int64_t>& ids, const Adapters* adapters,
                              bool training, const torch::Tensor& extra_tokens = {},
                              torch::Tensor* extra_features = nullptr) const;
  // 0, 1, ..., labels_.size() - 1.
  std::vector<int64_t> AllLabelIds() const;
  torch::Tensor Distill(const torch::Tensor& teacher_logits,
                        const torch::Tensor& student_logits) const;
  void PublishNow();
  // Detached copy of `adapters` for a snapshot, merged when options_.merge_snapshots.
  Adapters SnapshotAdapters(const Adapters& adapters) const;

  const ClipModel* model_;
  const Tokenizer* tokenizer_;
  OnlineLearnerOptions options_;
  LossRecipe recipe_;
  Adapters adapters_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  ReplayBuffer replay_;
  // Set when options_.image_parts > 1 on CPU: the image tower's training work split in parts.
  std::unique_ptr<ShardedImageEncoder> image_parts_;
  // Set when options_.parallel_teacher applies: sit+vrlwf's teacher image forward runs there.
  std::unique_ptr<HelperThread> teacher_thread_;
  std::optional<ReplayVocabulary> vocabulary_;
  std::vector<std::string> labels_;
  std::unordered_map<std::string, int64_t> label_ids_;
  int64_t step_ = 0;
  int64_t samples_seen_ = 0;
  int64_t version_ = 0;
  std::shared_ptr<const ModelSnapshot> snapshot_;  // accessed with std::atomic_load/store
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_ONLINE_ONLINE_LEARNER_H_
