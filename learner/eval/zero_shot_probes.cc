#include "learner/eval/zero_shot_probes.h"

#include <utility>

#include "learner/base/torch_status.h"
#include "learner/data/world_probes.h"
#include "learner/eval/anytime_metrics.h"
#include "learner/model/preprocess.h"
#include "learner/online/model_snapshot.h"

namespace perennial {

std::vector<std::string> ProbeTaskNames() {
  std::vector<std::string> names;
  for (const ProbeTask& task : ProbeTasks()) names.push_back(task.name);
  return names;
}

StatusOr<std::vector<double>> ProbeAccuracies(const ClipModel& model, const Tokenizer& tokenizer,
                                              const Adapters* adapters, int samples_per_task,
                                              uint64_t seed) {
  std::vector<double> out;
  for (const ProbeTask& task : ProbeTasks()) {
    std::vector<Image> images;
    std::vector<int64_t> truth;
    for (int i = 0; i < samples_per_task; ++i) {
      LabeledProbeSample s = GenerateProbeSample(task, seed, static_cast<uint64_t>(i));
      images.push_back(std::move(s.image));
      truth.push_back(s.label);
    }
    PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor pixels,
                               CatchTorch("preprocessing probes", [&]() -> StatusOr<torch::Tensor> {
                                 PreprocessOptions p;
                                 p.resolution = model.config().image_resolution;
                                 return PreprocessBatch(images, p);
                               }));
    PERENNIAL_ASSIGN_OR_RETURN(torch::Tensor p, PredictLabels(model, tokenizer, adapters, pixels,
                                                              task.label_texts, task.templates));
    std::vector<int64_t> predicted(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
    out.push_back(
        Accuracy(CountPredictions(predicted, truth, static_cast<int>(task.label_texts.size()))));
  }
  return out;
}

}  // namespace perennial
