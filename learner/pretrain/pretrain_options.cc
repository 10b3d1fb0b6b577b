#include "learner/pretrain/pretrain_options.h"

#include <algorithm>
#include <cmath>

namespace perennial {
namespace {

constexpr double kPi = 3.14159265358979323846;

bool InUnit(double x) { return x >= 0.0 && x <= 1.0; }

Status CheckModel(const ClipConfig& c) {
  if (c.image_resolution < 16 || c.image_resolution > 1024) {
    return InvalidArgumentError("model.image_resolution must be in 16..1024");
  }
  if (c.vision_patch_size <= 0 || c.image_resolution % c.vision_patch_size != 0) {
    return InvalidArgumentError("model.vision_patch_size must divide model.image_resolution");
  }
  const int positive[] = {c.embed_dim,    c.vision_width,   c.vision_layers,
                          c.vision_heads, c.context_length, c.vocab_size,
                          c.text_width,   c.text_layers,    c.text_heads};
  for (int v : positive) {
    if (v <= 0) return InvalidArgumentError("model dimensions must all be positive");
  }
  if (c.vision_width % c.vision_heads != 0 || c.text_width % c.text_heads != 0) {
    return InvalidArgumentError("model head counts must divide the tower widths");
  }
  if (c.vocab_size < 49408 || c.context_length < 8) {
    return InvalidArgumentError(
        "model.vocab_size must be >= 49408 and model.context_length >= 8 (CLIP's tokenizer)");
  }
  return OkStatus();
}

}  // namespace

ClipConfig DefaultPretrainModelConfig() {
  ClipConfig c;
  c.embed_dim = 128;
  c.image_resolution = 64;
  c.vision_patch_size = 8;
  c.vision_width = 128;
  c.vision_layers = 4;
  c.vision_heads = 2;
  c.context_length = 77;
  c.vocab_size = 49408;
  c.text_width = 128;
  c.text_layers = 4;
  c.text_heads = 2;
  c.activation = Activation::kGelu;
  return c;
}

Status ValidatePretrainOptions(const PretrainOptions& o) {
  PERENNIAL_RETURN_IF_ERROR(CheckModel(o.model));
  PERENNIAL_RETURN_IF_ERROR(ValidateWorldOptions(o.world));
  if (o.batch_size < 2) return InvalidArgumentError("batch_size must be >= 2");
  if (o.steps <= 0) return InvalidArgumentError("steps must be positive");
  if (!(o.learning_rate > 0.0) || !std::isfinite(o.learning_rate)) {
    return InvalidArgumentError("learning_rate must be a positive number");
  }
  if (o.warmup_steps < 0) return InvalidArgumentError("warmup_steps must be >= 0");
  if (!InUnit(o.hold_fraction)) return InvalidArgumentError("hold_fraction must be in [0, 1]");
  if (!InUnit(o.min_lr_ratio)) return InvalidArgumentError("min_lr_ratio must be in [0, 1]");
  if (!(o.weight_decay >= 0.0)) return InvalidArgumentError("weight_decay must be >= 0");
  if (!(o.beta1 >= 0.0 && o.beta1 < 1.0) || !(o.beta2 >= 0.0 && o.beta2 < 1.0)) {
    return InvalidArgumentError("beta1 and beta2 must be in [0, 1)");
  }
  if (!(o.epsilon > 0.0)) return InvalidArgumentError("epsilon must be positive");
  if (!InUnit(o.curriculum_plain_fraction) || !InUnit(o.curriculum_noise_fraction) ||
      o.curriculum_noise_fraction < o.curriculum_plain_fraction) {
    return InvalidArgumentError(
        "curriculum fractions must satisfy 0 <= plain_fraction <= noise_fraction <= 1");
  }
  if (o.threads < 0) return InvalidArgumentError("threads must be >= 0");
  if (o.prefetch_batches < 1) return InvalidArgumentError("prefetch_batches must be >= 1");
  if (o.eval_every < 0 || o.checkpoint_every < 0) {
    return InvalidArgumentError("eval_every and checkpoint_every must be >= 0");
  }
  if (o.eval_samples < 1) return InvalidArgumentError("eval_samples must be >= 1");
  return OkStatus();
}

int CurriculumBackgroundLevel(const PretrainOptions& o, int64_t step) {
  const double progress =
      static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, o.steps));
  if (progress < o.curriculum_plain_fraction) return 0;
  if (progress < o.curriculum_noise_fraction) return 1;
  return 2;
}

double LearningRateAt(const PretrainOptions& o, int64_t step) {
  const double peak = o.learning_rate;
  if (step < o.warmup_steps) {
    return peak * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  }
  const double decay_steps = static_cast<double>(std::max<int64_t>(0, o.steps - o.warmup_steps));
  const double hold_end = static_cast<double>(o.warmup_steps) + o.hold_fraction * decay_steps;
  const double s = static_cast<double>(step);
  if (s < hold_end) return peak;
  const double cosine_steps = static_cast<double>(o.steps) - hold_end;
  const double t = cosine_steps <= 0.0 ? 1.0 : std::min(1.0, (s - hold_end) / cosine_steps);
  const double floor = peak * o.min_lr_ratio;
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(kPi * t));
}

}  // namespace perennial
