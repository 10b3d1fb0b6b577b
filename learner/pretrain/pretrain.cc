#include "learner/pretrain/pretrain.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>

#include "learner/base/torch_status.h"
#include "learner/model/clip_init.h"
#include "learner/model/clip_model.h"
#include "learner/model/tokenizer.h"
#include "learner/pretrain/adamw.h"
#include "learner/pretrain/batch_stream.h"
#include "learner/pretrain/contrastive_loss.h"
#include "learner/pretrain/pretrain_checkpoint.h"

namespace perennial {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;
using Clock = std::chrono::steady_clock;

const double kMaxLogitScaleLog = std::log(100.0);

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A ClipModel whose weights are fresh fp32 CPU leaves that require grad. FromTensors keeps
// tensors that already have the model's device and dtype (clip_model.h), so the model computes
// with exactly these leaves and Tensors(false) returns them; checked here.
StatusOr<ClipModel> BuildTrainableModel(const ClipConfig& config, const TensorMap& initial) {
  TensorMap leaves;
  for (const auto& [key, t] : initial) {
    leaves[key] = t.detach().to(torch::kCPU, torch::kFloat32).clone().requires_grad_(true);
  }
  PERENNIAL_ASSIGN_OR_RETURN(ClipModel model,
                             ClipModel::FromTensors(leaves, ClipConfigMetadata(config), {}));
  for (const auto& [key, t] : model.Tensors(/*cpu_fp32=*/false)) {
    auto it = leaves.find(key);
    if (it == leaves.end() || !it->second.is_same(t)) {
      return InternalError("ClipModel copied weight '" + key + "': it cannot be trained in place");
    }
  }
  return model;
}

std::vector<AdamW::Parameter> ParametersOf(const ClipModel& model) {
  std::vector<AdamW::Parameter> out;
  for (const auto& [key, t] : model.Tensors(/*cpu_fp32=*/false)) {
    out.push_back({key, t, ClipParameterDecays(key, t)});
  }
  return out;
}

// Global L2 norm of the gradients; scales them down to max_norm when above it (max_norm > 0).
double ClipGradients(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  torch::Tensor sum = torch::zeros({}, torch::kFloat32);
  for (const torch::Tensor& p : parameters) {
    if (p.grad().defined()) sum += p.grad().pow(2).sum();
  }
  const double norm = std::sqrt(sum.item<double>());
  if (max_norm > 0.0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const torch::Tensor& p : parameters) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return norm;
}

struct StepStats {
  double loss = 0.0;
  double grad_norm = 0.0;
};

StepStats TrainStep(const ClipModel& model, AdamW& optimizer, const PretrainBatch& batch, double lr,
                    double max_grad_norm, torch::Tensor& log_scale) {
  const torch::Tensor image = model.EncodeImage(batch.pixels);
  const torch::Tensor text = model.EncodeText(batch.tokens);
  torch::Tensor loss = ContrastiveLoss(image, text, batch.positives, model.LogitScale());
  optimizer.ZeroGrad();
  loss.backward();
  StepStats stats;
  stats.loss = loss.item<double>();
  stats.grad_norm = ClipGradients(optimizer.ParameterTensors(), max_grad_norm);
  optimizer.Step(lr);
  torch::NoGradGuard no_grad;
  log_scale.clamp_(0.0, kMaxLogitScaleLog);
  return stats;
}

TensorMap DetachedWeights(const ClipModel& model) {
  TensorMap out;
  for (const auto& [key, t] : model.Tensors(/*cpu_fp32=*/false)) out[key] = t.detach().clone();
  return out;
}

Status CheckResumable(const PretrainCheckpoint& c, const PretrainOptions& o,
                      const std::string& path) {
  if (c.seed != o.seed || c.batch_size != o.batch_size ||
      c.config.ToString() != o.model.ToString() || c.config.vision_heads != o.model.vision_heads ||
      c.config.text_heads != o.model.text_heads) {
    return FailedPreconditionError(path + ": checkpoint was trained with seed " +
                                   std::to_string(c.seed) + ", batch " +
                                   std::to_string(c.batch_size) + ", model " + c.config.ToString() +
                                   "; this run has seed " + std::to_string(o.seed) + ", batch " +
                                   std::to_string(o.batch_size) + ", model " + o.model.ToString());
  }
  return OkStatus();
}

std::map<std::string, std::string> TrainingMetadata(const PretrainOptions& o) {
  return {{"perennial_pretrain",
           "seed=" + std::to_string(o.seed) + " steps=" + std::to_string(o.steps) +
               " batch=" + std::to_string(o.batch_size) + " lr=" + std::to_string(o.learning_rate) +
               " world=synthetic-shapes-v1"}};
}

// Everything one run holds; RunPretraining drives it.
class Trainer {
 public:
  Trainer(const PretrainOptions& options, Tokenizer tokenizer, ClipModel model)
      : options_(options),
        tokenizer_(std::move(tokenizer)),
        model_(std::move(model)),
        optimizer_(ParametersOf(model_), AdamWOptions{options.beta1, options.beta2, options.epsilon,
                                                      options.weight_decay}),
        log_scale_(model_.Tensors(/*cpu_fp32=*/false).at("logit_scale")) {}

  AdamW& optimizer() { return optimizer_; }
  const ClipModel& model() const { return model_; }

  StatusOr<PretrainResult> Run(int64_t first_step, const PretrainProgressFn& progress);

 private:
  Status SaveCheckpoint(int64_t step) const;
  StatusOr<std::vector<ProbeAccuracy>> Evaluate() const;

  const PretrainOptions options_;
  const Tokenizer tokenizer_;
  ClipModel model_;
  AdamW optimizer_;
  torch::Tensor log_scale_;
};

Status Trainer::SaveCheckpoint(int64_t step) const {
  PretrainCheckpoint c;
  c.step = step;
  c.optimizer_steps = optimizer_.step_count();
  c.seed = options_.seed;
  c.batch_size = options_.batch_size;
  c.config = model_.config();
  c.weights = DetachedWeights(model_);
  for (const auto& [key, t] : optimizer_.StateTensors()) c.optimizer_state[key] = t;
  return SavePretrainCheckpoint(options_.checkpoint_path, c);
}

StatusOr<std::vector<ProbeAccuracy>> Trainer::Evaluate() const {
  ProbeEvalOptions eval;
  eval.samples_per_task = options_.eval_samples;
  return EvaluateZeroShotProbes(model_, tokenizer_, eval);
}

StatusOr<PretrainResult> Trainer::Run(int64_t first_step, const PretrainProgressFn& progress) {
  const Clock::time_point start = Clock::now();
  PretrainResult result;
  result.first_step = first_step;
  result.steps_done = first_step;
  result.config = model_.config();
  BatchStream stream(options_, tokenizer_, first_step);
  double step_seconds = 0.0;  // exponential moving average
  bool stop = false;
  for (int64_t step = first_step; step < options_.steps && !stop; ++step) {
    const PretrainBatch batch = stream.Next();
    const Clock::time_point step_start = Clock::now();
    const double lr = LearningRateAt(options_, step);
    PERENNIAL_ASSIGN_OR_RETURN(
        StepStats stats,
        CatchTorch("training step " + std::to_string(step), [&]() -> StatusOr<StepStats> {
          return TrainStep(model_, optimizer_, batch, lr, options_.max_grad_norm, log_scale_);
        }));
    const double seconds = Seconds(step_start);
    step_seconds = step == first_step ? seconds : 0.95 * step_seconds + 0.05 * seconds;
    const int64_t done = step + 1;
    result.steps_done = done;
    result.last_loss = stats.loss;

    PretrainProgress p;
    p.step = done;
    p.total_steps = options_.steps;
    p.loss = stats.loss;
    p.learning_rate = lr;
    p.logit_scale = std::exp(log_scale_.item<double>());
    p.grad_norm = stats.grad_norm;
    p.samples_per_second = step_seconds > 0.0 ? options_.batch_size / step_seconds : 0.0;
    p.eta_seconds = step_seconds * static_cast<double>(options_.steps - done);
    const bool last = done == options_.steps;
    if (last || (options_.eval_every > 0 && done % options_.eval_every == 0)) {
      PERENNIAL_ASSIGN_OR_RETURN(result.probes, Evaluate());
      p.probes = &result.probes;
    }
    const bool checkpointing = !options_.checkpoint_path.empty();
    if (checkpointing &&
        (last || (options_.checkpoint_every > 0 && done % options_.checkpoint_every == 0))) {
      PERENNIAL_RETURN_IF_ERROR(SaveCheckpoint(done));
      p.checkpoint_written = options_.checkpoint_path;
    }
    p.elapsed_seconds = Seconds(start);
    stop = progress && !progress(p);
    if (stop && checkpointing && p.checkpoint_written.empty()) {
      PERENNIAL_RETURN_IF_ERROR(SaveCheckpoint(done));
    }
  }
  result.completed = result.steps_done >= options_.steps;
  if (result.completed && result.probes.empty()) {
    PERENNIAL_ASSIGN_OR_RETURN(result.probes, Evaluate());
  }
  if (result.completed && !options_.output_path.empty()) {
    PERENNIAL_RETURN_IF_ERROR(
        ExportPretrainedModel(options_.output_path, model_, TrainingMetadata(options_)));
  }
  result.weights = DetachedWeights(model_);
  result.seconds = Seconds(start);
  return result;
}

}  // namespace

StatusOr<PretrainResult> RunPretraining(const PretrainOptions& options,
                                        const PretrainProgressFn& progress) {
  PERENNIAL_RETURN_IF_ERROR(ValidatePretrainOptions(options));
  if (options.threads > 0) torch::set_num_threads(options.threads);
  PERENNIAL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::LoadDefault());
  std::optional<PretrainCheckpoint> checkpoint;
  if (!options.resume_path.empty()) {
    PERENNIAL_ASSIGN_OR_RETURN(checkpoint, LoadPretrainCheckpoint(options.resume_path));
    PERENNIAL_RETURN_IF_ERROR(CheckResumable(*checkpoint, options, options.resume_path));
  }
  return CatchTorch("pretraining", [&]() -> StatusOr<PretrainResult> {
    const TensorMap initial =
        checkpoint ? checkpoint->weights : InitClipTensors(options.model, options.seed);
    PERENNIAL_ASSIGN_OR_RETURN(ClipModel model, BuildTrainableModel(options.model, initial));
    Trainer trainer(options, std::move(tokenizer), std::move(model));
    int64_t first_step = 0;
    if (checkpoint) {
      PERENNIAL_RETURN_IF_ERROR(
          trainer.optimizer().LoadState(checkpoint->optimizer_state, checkpoint->optimizer_steps));
      first_step = checkpoint->step;
    }
    return trainer.Run(first_step, progress);
  });
}

}  // namespace perennial
