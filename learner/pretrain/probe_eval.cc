#include "learner/pretrain/probe_eval.h"

#include <algorithm>
#include <cstdio>

#include "learner/base/torch_status.h"
#include "learner/data/world_probes.h"
#include "learner/model/zero_shot.h"
#include "learner/pretrain/batch_stream.h"

namespace perennial {
namespace {

// Correct top-1 predictions of `model` on `samples` against `classes` [K, E].
int64_t CountCorrect(const ClipModel& model, const std::vector<LabeledProbeSample>& samples,
                     const torch::Tensor& classes, int batch_size) {
  int64_t correct = 0;
  for (size_t start = 0; start < samples.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(samples.size(), start + static_cast<size_t>(batch_size));
    std::vector<const Image*> images;
    std::vector<int64_t> labels;
    for (size_t i = start; i < end; ++i) {
      images.push_back(&samples[i].image);
      labels.push_back(samples[i].label);
    }
    const torch::Tensor features = model.EncodeImage(NormalizeImages(images));
    const torch::Tensor predicted = ScoreZeroShot(model, features, classes).logits.argmax(1).cpu();
    correct += predicted.eq(torch::tensor(labels, torch::kLong)).sum().item<int64_t>();
  }
  return correct;
}

}  // namespace

StatusOr<std::vector<ProbeAccuracy>> EvaluateZeroShotProbes(const ClipModel& model,
                                                            const Tokenizer& tokenizer,
                                                            const ProbeEvalOptions& options) {
  if (options.samples_per_task <= 0 || options.batch_size <= 0) {
    return InvalidArgumentError("probe evaluation needs positive samples_per_task and batch_size");
  }
  if (options.background_level < 0 || options.background_level > 2) {
    return InvalidArgumentError("probe background_level must be 0, 1 or 2");
  }
  WorldOptions world;
  world.resolution = model.config().image_resolution;
  world.background_level = options.background_level;
  PERENNIAL_RETURN_IF_ERROR(ValidateWorldOptions(world));
  std::vector<ProbeAccuracy> out;
  for (const ProbeTask& task : ProbeTasks()) {
    PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor classes,
                               ClassEmbeddings(model, tokenizer, task.label_texts, task.templates));
    std::vector<LabeledProbeSample> samples;
    for (int i = 0; i < options.samples_per_task; ++i) {
      samples.push_back(GenerateProbeSample(task, options.seed, static_cast<uint64_t>(i), world,
                                            options.combinations));
    }
    PERENNIAL_ASSIGN_OR_RETURN(
        int64_t correct,
        CatchTorch("evaluating probe '" + task.name + "'", [&]() -> StatusOr<int64_t> {
          torch::NoGradGuard no_grad;
          return CountCorrect(model, samples, classes, options.batch_size);
        }));
    ProbeAccuracy a;
    a.task = task.name;
    a.samples = options.samples_per_task;
    a.num_labels = static_cast<int>(task.label_texts.size());
    a.accuracy = static_cast<double>(correct) / options.samples_per_task;
    a.chance = 1.0 / a.num_labels;
    out.push_back(a);
  }
  return out;
}

std::string FormatProbeAccuracies(const std::vector<ProbeAccuracy>& accuracies) {
  std::string out;
  char buffer[96];
  for (const ProbeAccuracy& a : accuracies) {
    std::snprintf(buffer, sizeof(buffer), "%s%s %.3f (chance %.3f)", out.empty() ? "" : ", ",
                  a.task.c_str(), a.accuracy, a.chance);
    out += buffer;
  }
  return out;
}

}  // namespace perennial
