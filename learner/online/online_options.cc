#include "learner/online/online_options.h"

namespace perennial {
namespace {

struct MethodName {
  OnlineMethod method;
  const char* name;
};

constexpr MethodName kMethodNames[] = {
    {OnlineMethod::kFrozen, "frozen"},
    {OnlineMethod::kAsymFt, "asym-ft"},
    {OnlineMethod::kEr, "er"},
    {OnlineMethod::kSit, "sit"},
    {OnlineMethod::kSitVrLwf, "sit+vrlwf"},
    {OnlineMethod::kLwf, "lwf"},
};

}  // namespace

const char* OnlineMethodName(OnlineMethod method) {
  for (const MethodName& m : kMethodNames) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

StatusOr<OnlineMethod> ParseOnlineMethod(const std::string& name) {
  for (const MethodName& m : kMethodNames) {
    if (name == m.name) return m.method;
  }
  return InvalidArgumentError("unknown online method \"" + name +
                              "\" (expected frozen, asym-ft, er, sit, sit+vrlwf or lwf)");
}

LossRecipe RecipeFor(OnlineMethod method) {
  LossRecipe r;
  switch (method) {
    case OnlineMethod::kFrozen: r.update = false; break;
    case OnlineMethod::kAsymFt: r.scope = ClassScope::kAllSeen; break;
    case OnlineMethod::kEr:
      r.scope = ClassScope::kAllSeen;
      r.replay = true;
      break;
    case OnlineMethod::kSit: break;
    case OnlineMethod::kSitVrLwf: r.vocabulary_kd = true; break;
    case OnlineMethod::kLwf: r.snapshot_kd = true; break;
  }
  return r;
}

Status OnlineLearnerOptions::Validate() const {
  if (online_iters < 1) return InvalidArgumentError("online_iters must be >= 1");
  if (!(learning_rate > 0)) return InvalidArgumentError("learning_rate must be > 0");
  if (!(weight_decay >= 0)) return InvalidArgumentError("weight_decay must be >= 0");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) {
    return InvalidArgumentError("AdamW betas must be in [0, 1)");
  }
  if (!(eps > 0)) return InvalidArgumentError("AdamW eps must be > 0");
  if (templates.empty()) return InvalidArgumentError("at least one prompt template is needed");
  for (const std::string& t : templates) {
    if (t.find("{}") == std::string::npos) {
      return InvalidArgumentError("prompt template \"" + t + "\" has no {}");
    }
  }
  if (replay_buffer_size < 0) return InvalidArgumentError("replay_buffer_size must be >= 0");
  if (replay_batch_size < 0) return InvalidArgumentError("replay_batch_size must be >= 0");
  if (vrlwf_num_pseudo_classes < 1) {
    return InvalidArgumentError("vrlwf_num_pseudo_classes must be >= 1");
  }
  if (!(kd_weight >= 0)) return InvalidArgumentError("kd_weight must be >= 0");
  if (!(kd_temperature > 0)) return InvalidArgumentError("kd_temperature must be > 0");
  if (vocabulary_size < 1) return InvalidArgumentError("vocabulary_size must be >= 1");
  if (vocabulary_template.find("{}") == std::string::npos) {
    return InvalidArgumentError("vocabulary_template has no {}");
  }
  if (image_parts < 1 || image_parts > 64) {
    return InvalidArgumentError("image_parts must be in 1..64");
  }
  if (publish_every_k_steps < 1) return InvalidArgumentError("publish_every_k_steps must be >= 1");
  return pet.Validate();
}

}  // namespace perennial
