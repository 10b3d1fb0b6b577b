#include "learner/online/online_learner.h"

#include <ATen/Context.h>

#include <atomic>
#include <mutex>
#include <numeric>
#include <utility>

#include "learner/base/device_copy.h"
#include "learner/base/helper_thread.h"
#include "learner/base/torch_status.h"
#include "learner/base/trace_phase.h"
#include "learner/model/zero_shot.h"
#include "learner/online/derived_seed.h"
#include "learner/online/fused_adamw.h"

namespace perennial {
namespace {

torch::Tensor UnitRows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(-1));
}

// Reseeds LibTorch's default generator of `device` for one step and puts its previous state
// back afterwards, so that LoRA dropout masks depend only on (seed, step).
class ScopedGeneratorSeed {
 public:
  ScopedGeneratorSeed(torch::Device device, uint64_t seed)
      : generator_(at::globalContext().defaultGenerator(device)) {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    saved_ = generator_.get_state();
    generator_.set_current_seed(seed);
  }
  ~ScopedGeneratorSeed() {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(saved_);
  }

 private:
  at::Generator generator_;
  torch::Tensor saved_;
};

// The classes a step's cross-entropy runs over (label ids: every seen label, or the batch's own
// in order of first appearance) and each target's position among them.
std::pair<std::vector<int64_t>, std::vector<int64_t>> CrossEntropyClasses(
    ClassScope scope, int64_t num_labels, const std::vector<int64_t>& targets) {
  std::vector<int64_t> classes;
  std::vector<int64_t> position(static_cast<size_t>(num_labels), -1);
  if (scope == ClassScope::kAllSeen) {
    for (int64_t i = 0; i < num_labels; ++i) classes.push_back(i);
  } else {
    for (int64_t t : targets) {
      if (position[t] < 0) {
        position[t] = static_cast<int64_t>(classes.size());
        classes.push_back(t);
      }
    }
  }
  for (size_t i = 0; i < classes.size(); ++i) position[classes[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> target_positions;
  for (int64_t t : targets) target_positions.push_back(position[t]);
  return {std::move(classes), std::move(target_positions)};
}

}  // namespace

StatusOr<std::unique_ptr<OnlineLearner>> OnlineLearner::Create(
    const ClipModel* model, const Tokenizer* tokenizer, const OnlineLearnerOptions& options,
    std::vector<std::string> vocabulary) {
  if (model == nullptr || tokenizer == nullptr) {
    return InvalidArgumentError("online learner needs a model and a tokenizer");
  }
  PERENNIAL_RETURN_IF_ERROR(options.Validate());
  PERENNIAL_ASSIGN_OR_RETURN(
      Adapters adapters,
      Adapters::Create(model->config(), options.pet,
                       DerivedSeed(options.seed, SeedPurpose::kAdapterInit, 0), model->device()));
  std::unique_ptr<OnlineLearner> learner(
      new OnlineLearner(model, tokenizer, options, std::move(adapters)));
  if (learner->recipe_.vocabulary_kd) {
    if (vocabulary.empty()) {
      const std::string path = DefaultWordListPath();
      if (path.empty()) {
        return NotFoundError(
            "sit+vrlwf needs a replay vocabulary: pass a word list or install wamerican "
            "(/usr/share/dict/words)");
      }
      PERENNIAL_ASSIGN_OR_RETURN(vocabulary, LoadWordList(path));
    }
    PERENNIAL_ASSIGN_OR_RETURN(
        ReplayVocabulary v,
        ReplayVocabulary::Create(std::move(vocabulary), options.vocabulary_size,
                                 DerivedSeed(options.seed, SeedPurpose::kVocabularySubset, 0),
                                 options.vocabulary_template));
    learner->vocabulary_.emplace(std::move(v));
  }
  PERENNIAL_RETURN_IF_ERROR(CatchTorch("creating the optimizer", [&]() -> Status {
    learner->ResetOptimizer();
    learner->PublishNow();
    return OkStatus();
  }));
  return learner;
}

OnlineLearner::OnlineLearner(const ClipModel* model, const Tokenizer* tokenizer,
                             OnlineLearnerOptions options, Adapters adapters)
    : model_(model),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      recipe_(RecipeFor(options_.method)),
      adapters_(std::move(adapters)),
      replay_(recipe_.replay ? options_.replay_buffer_size : 0, options_.seed) {
  if (options_.image_parts > 1 && model_->device().is_cpu() && options_.pet.lora_dropout == 0) {
    image_parts_ = std::make_unique<ShardedImageEncoder>(model_, options_.image_parts);
  }
  if (options_.parallel_teacher && recipe_.vocabulary_kd && model_->device().is_cpu()) {
    teacher_thread_ = std::make_unique<HelperThread>(/*intra_op_threads=*/1);
  }
}

void OnlineLearner::ResetOptimizer() {
  torch::optim::AdamWOptions o(options_.learning_rate);
  o.betas({options_.beta1, options_.beta2}).eps(options_.eps).weight_decay(options_.weight_decay);
  optimizer_ = std::make_unique<FusedAdamW>(adapters_.Parameters(), o);
}

std::shared_ptr<const ModelSnapshot> OnlineLearner::snapshot() const {
  return std::atomic_load(&snapshot_);
}

void OnlineLearner::PublishNow() {
  auto s = std::make_shared<ModelSnapshot>();
  s->version = version_++;
  s->step = step_;
  s->samples_seen = samples_seen_;
  s->adapters = SnapshotAdapters(adapters_);
  s->labels = labels_;
  std::atomic_store(&snapshot_, std::shared_ptr<const ModelSnapshot>(std::move(s)));
}

Adapters OnlineLearner::SnapshotAdapters(const Adapters& adapters) const {
  if (options_.merge_snapshots) return model_->MergeAdapters(adapters);
  return adapters.Snapshot();
}

Status OnlineLearner::Publish() {
  return CatchTorch("publishing a snapshot", [&]() -> Status {
    PublishNow();
    return OkStatus();
  });
}

std::vector<int64_t> OnlineLearner::AddLabels(const std::vector<std::string>& labels) {
  std::vector<int64_t> ids;
  ids.reserve(labels.size());
  for (const std::string& label : labels) {
    auto [it, inserted] = label_ids_.emplace(label, static_cast<int64_t>(labels_.size()));
    if (inserted) labels_.push_back(label);
    ids.push_back(it->second);
  }
  return ids;
}

torch::Tensor OnlineLearner::ClassFeatures(const std::vector<int64_t>& ids,
                                           const Adapters* adapters, bool training,
                                           const torch::Tensor& extra_tokens,
                                           torch::Tensor* extra_features) const {
  const int64_t t = static_cast<int64_t>(options_.templates.size());
  std::vector<std::vector<int32_t>> tokens;
  tokens.reserve(ids.size() * options_.templates.size());
  for (int64_t id : ids) {
    for (const std::string& templ : options_.templates) {
      // Templates were validated to hold "{}", so formatting cannot fail.
      tokens.push_back(tokenizer_->Tokenize(*FormatTemplate(templ, labels_[id]),
                                            model_->config().context_length));
    }
  }
  torch::Tensor all_tokens = TokensToTensor(tokens, model_->config().context_length);
  if (extra_tokens.defined()) {
    // Both are zero-padded to their own longest text; pad to the longer of the two.
    const int64_t length = std::max(all_tokens.size(1), extra_tokens.size(1));
    auto padded = [length](const torch::Tensor& t) {
      return torch::constant_pad_nd(t, {0, length - t.size(1)}, 0);
    };
    all_tokens = torch::cat({padded(all_tokens), padded(extra_tokens)});
  }
  torch::Tensor features = UnitRows(model_->EncodeText(all_tokens, adapters, training));
  if (extra_tokens.defined()) {
    const int64_t classes = static_cast<int64_t>(tokens.size());
    *extra_features = features.narrow(0, classes, features.size(0) - classes);
    features = features.narrow(0, 0, classes);
  }
  if (t == 1) return features;
  return UnitRows(features.view({static_cast<int64_t>(ids.size()), t, -1}).mean(1));
}

std::vector<int64_t> OnlineLearner::AllLabelIds() const {
  std::vector<int64_t> ids(labels_.size());
  std::iota(ids.begin(), ids.end(), int64_t{0});
  return ids;
}

torch::Tensor OnlineLearner::Distill(const torch::Tensor& teacher_logits,
                                     const torch::Tensor& student_logits) const {
  const double temp = options_.kd_temperature;
  torch::Tensor log_p_teacher = torch::log_softmax(teacher_logits / temp, -1);
  torch::Tensor log_p_student = torch::log_softmax(student_logits / temp, -1);
  torch::Tensor kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1).mean();
  return kl * (temp * temp);
}

int64_t OnlineLearner::CountCorrect(const torch::Tensor& pixels,
                                    const std::vector<int64_t>& targets) {
  torch::NoGradGuard no_grad;
  torch::Tensor unit_image = UnitRows(model_->EncodeImage(pixels, &adapters_, false));
  return CountCorrectFromFeatures(unit_image, targets, AllClassFeatures({}, torch::Tensor()));
}

torch::Tensor OnlineLearner::AllClassFeatures(const std::vector<int64_t>& ids,
                                              const torch::Tensor& features) const {
  torch::NoGradGuard no_grad;
  // row[label id] = the label's row in cat(features, encoded).
  std::vector<int64_t> row(labels_.size(), -1);
  for (size_t i = 0; i < ids.size(); ++i) row[ids[i]] = static_cast<int64_t>(i);
  std::vector<int64_t> missing;
  for (size_t id = 0; id < row.size(); ++id) {
    if (row[id] < 0) {
      row[id] = static_cast<int64_t>(ids.size() + missing.size());
      missing.push_back(static_cast<int64_t>(id));
    }
  }
  std::vector<torch::Tensor> parts;
  if (!ids.empty()) parts.push_back(features.detach());
  if (!missing.empty()) parts.push_back(ClassFeatures(missing, &adapters_, false));
  torch::Tensor rows = parts.size() == 1 ? parts[0] : torch::cat(parts);
  return rows.index_select(0, CopyToDevice(torch::tensor(row, torch::kLong), rows.device()));
}

int64_t OnlineLearner::CountCorrectFromFeatures(const torch::Tensor& unit_image,
                                                const std::vector<int64_t>& targets,
                                                const torch::Tensor& all_classes) const {
  torch::NoGradGuard no_grad;
  torch::Tensor predicted = torch::matmul(unit_image, all_classes.t()).argmax(-1).cpu();
  torch::Tensor truth = torch::tensor(targets, torch::kLong);
  return predicted.eq(truth).sum().item<int64_t>();
}

torch::Tensor OnlineLearner::BaseImageFeatures(const torch::Tensor& pixels) const {
  torch::NoGradGuard no_grad;
  return UnitRows(model_->EncodeImage(pixels, nullptr, false));
}

std::optional<HelperThread::Task> OnlineLearner::StartParallelTeacher(const torch::Tensor& pixels,
                                                                      TeacherCache* teacher) {
  if (teacher_thread_ == nullptr || teacher == nullptr || teacher->base_image.defined()) {
    return std::nullopt;
  }
  return teacher_thread_->Start([this, pixels, teacher] {
    TracePhase phase("perennial::step::parallel_teacher");
    teacher->base_image = BaseImageFeatures(pixels);
  });
}

torch::Tensor OnlineLearner::VocabularyTeacherLogits(const torch::Tensor& pixels,
                                                     const std::vector<int64_t>& words,
                                                     const torch::Tensor& scale,
                                                     TeacherCache* teacher) {
  torch::NoGradGuard no_grad;
  torch::Tensor image = teacher != nullptr ? teacher->base_image : torch::Tensor();
  if (!image.defined()) {
    image = BaseImageFeatures(pixels);
    if (teacher != nullptr) teacher->base_image = image;
  }
  torch::Tensor text = vocabulary_->TeacherFeatures(*model_, *tokenizer_, words);
  return scale * torch::matmul(image, text.t());
}

torch::Tensor OnlineLearner::SnapshotTeacherLogits(const torch::Tensor& pixels,
                                                   const torch::Tensor& scale,
                                                   TeacherCache* teacher) const {
  torch::NoGradGuard no_grad;
  std::shared_ptr<const ModelSnapshot> previous = snapshot();
  if (teacher != nullptr && teacher->snapshot == previous) return teacher->snapshot_logits;
  torch::Tensor text = ClassFeatures(AllLabelIds(), &previous->adapters, false);
  torch::Tensor image = UnitRows(model_->EncodeImage(pixels, &previous->adapters, false));
  torch::Tensor logits = scale * torch::matmul(image, text.t());
  if (teacher != nullptr) {
    teacher->snapshot_logits = logits;
    teacher->snapshot = std::move(previous);
  }
  return logits;
}

OnlineLearner::StepOutcome OnlineLearner::Step(const torch::Tensor& batch_pixels,
                                               const std::vector<int64_t>& batch_targets,
                                               int64_t* prequential_correct,
                                               TeacherCache* teacher) {
  TracePhase phase("perennial::step::image_forward");
  std::optional<ScopedGeneratorSeed> dropout_seed;
  if (options_.pet.lora_dropout > 0) {
    dropout_seed.emplace(model_->device(),
                         DerivedSeed(options_.seed, SeedPurpose::kDropout, step_));
  }
  torch::Tensor pixels = batch_pixels;
  std::vector<int64_t> targets = batch_targets;
  if (recipe_.replay && options_.replay_batch_size > 0 && replay_.size() > 0) {
    auto [replay_pixels, replay_labels] = replay_.Sample(
        options_.replay_batch_size, DerivedSeed(options_.seed, SeedPurpose::kReplaySample, step_));
    pixels = torch::cat({pixels, CopyToDevice(replay_pixels, pixels.device())});
    targets.insert(targets.end(), replay_labels.begin(), replay_labels.end());
  }

  const auto [classes, target_positions] =
      CrossEntropyClasses(recipe_.scope, static_cast<int64_t>(labels_.size()), targets);

  const torch::Tensor scale = model_->LogitScale().to(pixels.device());
  std::optional<HelperThread::Task> teacher_task =
      recipe_.vocabulary_kd ? StartParallelTeacher(pixels, teacher) : std::nullopt;
  torch::Tensor image = UnitRows(image_parts_ ? image_parts_->Encode(pixels, &adapters_)
                                              : model_->EncodeImage(pixels, &adapters_, true));
  phase.Next("perennial::step::text_forward");
  std::vector<int64_t> words;  // sit+vrlwf's pseudo-classes, encoded with the batch's classes
  torch::Tensor word_tokens, student_text;
  if (recipe_.vocabulary_kd) {
    words = vocabulary_->Draw(options_.vrlwf_num_pseudo_classes,
                              DerivedSeed(options_.seed, SeedPurpose::kVocabularyDraw, step_));
    word_tokens = vocabulary_->Tokens(*tokenizer_, words, model_->config().context_length);
  }
  torch::Tensor class_features =
      ClassFeatures(classes, &adapters_, true, word_tokens, &student_text);
  if (prequential_correct != nullptr) {
    phase.Next("perennial::step::prequential");
    *prequential_correct = CountCorrectFromFeatures(
        image.narrow(0, 0, static_cast<int64_t>(batch_targets.size())).detach(), batch_targets,
        AllClassFeatures(classes, class_features));
  }
  phase.Next("perennial::step::loss");
  torch::Tensor logits = scale * torch::matmul(image, class_features.t());
  torch::Tensor ce = torch::nn::functional::cross_entropy(
      logits, CopyToDevice(torch::tensor(target_positions, torch::kLong), pixels.device()));

  StepOutcome out;
  out.ce_classes = logits.size(1);
  torch::Tensor kd;
  if (recipe_.vocabulary_kd) {
    torch::Tensor student_logits = scale * torch::matmul(image, student_text.t());
    phase.Next("perennial::step::teacher");
    if (teacher_task) teacher_task->Wait();
    kd = Distill(VocabularyTeacherLogits(pixels, words, scale, teacher), student_logits);
    out.kd_classes = student_logits.size(1);
  } else if (recipe_.snapshot_kd) {
    torch::Tensor student_text = recipe_.scope == ClassScope::kAllSeen
                                     ? class_features
                                     : ClassFeatures(AllLabelIds(), &adapters_, true);
    torch::Tensor student_logits = scale * torch::matmul(image, student_text.t());
    phase.Next("perennial::step::teacher");
    kd = Distill(SnapshotTeacherLogits(pixels, scale, teacher), student_logits);
    out.kd_classes = student_logits.size(1);
  }
  torch::Tensor loss = kd.defined() ? ce + options_.kd_weight * kd : ce;

  phase.Next("perennial::step::backward");
  optimizer_->zero_grad();
  loss.backward();
  if (image_parts_) image_parts_->Backward();
  phase.Next("perennial::step::optimizer");
  optimizer_->step();
  ++step_;
  out.loss = loss.item<double>();
  out.ce = ce.item<double>();
  out.kd = kd.defined() ? kd.item<double>() : 0.0;
  return out;
}

StatusOr<ObserveResult> OnlineLearner::Observe(const torch::Tensor& pixels,
                                               const std::vector<std::string>& labels) {
  const int r = model_->config().image_resolution;
  if (!pixels.defined() || pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != r ||
      pixels.size(3) != r) {
    return InvalidArgumentError("Observe: pixels must be [N, 3, " + std::to_string(r) + ", " +
                                std::to_string(r) + "]");
  }
  if (pixels.size(0) != static_cast<int64_t>(labels.size()) || labels.empty()) {
    return InvalidArgumentError("Observe: " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(pixels.size(0)) + " images");
  }
  for (const std::string& label : labels) {
    if (label.empty()) return InvalidArgumentError("Observe: empty label text");
  }
  return CatchTorch("online learner step", [&]() -> StatusOr<ObserveResult> {
    const torch::Tensor x = pixels.to(model_->device(), torch::kFloat);
    const std::vector<int64_t> targets = AddLabels(labels);
    samples_seen_ += static_cast<int64_t>(targets.size());
    ObserveResult result;
    // Replay rows differ between iterations, so their teacher outputs would too.
    TeacherCache teacher;
    TeacherCache* reusable_teacher = recipe_.replay ? nullptr : &teacher;
    // Test-then-train: the first step's forward doubles as the prediction when it can.
    const bool predict_in_step =
        options_.prequential && recipe_.update && options_.pet.lora_dropout == 0;
    if (options_.prequential) {
      if (!predict_in_step) {
        TracePhase phase("perennial::step::prequential");
        result.prequential_correct = CountCorrect(x, targets);
      }
      result.prequential_count = static_cast<int64_t>(targets.size());
    }
    if (recipe_.update) {
      for (int i = 0; i < options_.online_iters; ++i) {
        const bool predict = predict_in_step && i == 0;
        const StepOutcome s =
            Step(x, targets, predict ? &result.prequential_correct : nullptr, reusable_teacher);
        result.loss += s.loss / options_.online_iters;
        result.ce_loss = s.ce;
        result.kd_loss = s.kd;
        result.ce_classes = s.ce_classes;
        result.kd_classes = s.kd_classes;
        ++result.steps;
        if (step_ % options_.publish_every_k_steps == 0) {
          TracePhase phase("perennial::step::publish");
          PublishNow();
          result.published = true;
        }
      }
    }
    if (recipe_.replay) replay_.Add(x, targets);
    return result;
  });
}

}  // namespace perennial
