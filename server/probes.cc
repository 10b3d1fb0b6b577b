#include "server/probes.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "learner/base/torch_status.h"
#include "learner/model/preprocess.h"
#include "learner/model/zero_shot.h"
#include "server/validation.h"

namespace perennial {
namespace {

// Probe images encoded per EncodeImages call (bounds the batch tensor).
constexpr int64_t kProbeChunk = 64;

// Labels, templates, targets and decoded images of one probe; labels not listed in the request
// are added in order of first appearance.
absl::Status DecodeProbe(const v1::Probe& probe, const std::string& field, const ServerCore& core,
                         ProbeTask* task, std::vector<Image>* images) {
  absl::Status status = ValidateName(probe.name(), field + ".name");
  if (!status.ok()) return status;
  if (!probe.dataset().empty()) {
    return absl::UnimplementedError(absl::StrCat(
        field, ".dataset: server-side probe datasets are not supported yet; send samples"));
  }
  if (probe.samples().empty() || probe.samples_size() > kMaxProbeSamples) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".samples: ", probe.samples_size(),
                                                   " samples, want 1..", kMaxProbeSamples));
  }
  task->name = probe.name();
  task->labels.assign(probe.labels().begin(), probe.labels().end());
  task->templates.assign(probe.templates().begin(), probe.templates().end());
  status = ValidateTemplates(probe.templates(), core.limits, field + ".templates");
  if (!status.ok()) return status;
  if (task->templates.empty()) task->templates = DefaultTemplates();
  absl::flat_hash_map<std::string, int64_t> label_index;
  for (size_t i = 0; i < task->labels.size(); ++i) label_index[task->labels[i]] = i;
  const int draft_min_side = core.host->jpeg_draft_min_side();
  for (int i = 0; i < probe.samples_size(); ++i) {
    const v1::Sample& sample = probe.samples(i);
    const std::string where = absl::StrCat(field, ".samples[", i, "]");
    status = ValidateSample(sample, core.limits, where);
    if (!status.ok()) return status;
    const std::string label = TrimLabel(sample.label());
    auto it = label_index.find(label);
    if (it == label_index.end()) {
      if (!probe.labels().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".label: '", label, "' is not among the probe's labels"));
      }
      it = label_index.emplace(label, task->labels.size()).first;
      task->labels.push_back(label);
    }
    task->targets.push_back(it->second);
    absl::StatusOr<Image> image =
        DecodeRequestImage(sample.image(), core.limits, where + ".image", draft_min_side);
    if (!image.ok()) return image.status();
    images->push_back(*std::move(image));
  }
  google::protobuf::RepeatedPtrField<std::string> label_field(task->labels.begin(),
                                                              task->labels.end());
  return ValidateLabelList(label_field, core.limits, field + ".labels");
}

// Preprocesses the images into task->pixels and sets task->base_accuracy.
absl::Status ScoreWithBaseModel(const std::vector<Image>& images, const ServerCore& core,
                                absl::Time deadline, ProbeTask* task) {
  auto base = std::make_shared<ServedModel>();  // version 0, no adapters: the base model
  absl::StatusOr<torch::Tensor> classes =
      core.host->LabelEmbeddings(*base, task->labels, task->templates);
  if (!classes.ok()) return classes.status();
  absl::StatusOr<torch::Tensor> pixels =
      CatchTorch("preprocessing probe images", [&]() -> absl::StatusOr<torch::Tensor> {
        return PreprocessBatch(images, core.host->preprocess_options());
      });
  if (!pixels.ok()) return pixels.status();
  task->pixels = *pixels;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < pixels->size(0); begin += kProbeChunk) {
    const int64_t n = std::min(kProbeChunk, pixels->size(0) - begin);
    absl::StatusOr<torch::Tensor> features =
        core.batcher->EncodeImages(base, pixels->narrow(0, begin, n), deadline);
    if (!features.ok()) return features.status();
    absl::Status status = CatchTorch("scoring probe images", [&]() -> absl::Status {
      const torch::Tensor predicted =
          ScoreZeroShot(core.host->model(), *features, *classes).logits.argmax(-1).to(torch::kCPU);
      for (int64_t i = 0; i < n; ++i) {
        if (predicted[i].item<int64_t>() == task->targets[begin + i]) ++correct;
      }
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
  }
  task->base_accuracy = static_cast<double>(correct) / static_cast<double>(pixels->size(0));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<std::vector<ProbeTask>>> BuildProbeTasks(
    const v1::SetProbesRequest& request, const ServerCore& core, absl::Time deadline) {
  if (request.probes_size() > kMaxProbes) {
    return absl::InvalidArgumentError(
        absl::StrCat("probes: ", request.probes_size(), " probes, at most ", kMaxProbes));
  }
  auto tasks = std::make_shared<std::vector<ProbeTask>>();
  for (int p = 0; p < request.probes_size(); ++p) {
    ProbeTask task;
    std::vector<Image> images;
    absl::Status status =
        DecodeProbe(request.probes(p), absl::StrCat("probes[", p, "]"), core, &task, &images);
    if (!status.ok()) return status;
    status = ScoreWithBaseModel(images, core, deadline, &task);
    if (!status.ok()) return status;
    tasks->push_back(std::move(task));
  }
  return tasks;
}

absl::Status RestoreProbes(const ServerCore& core) {
  absl::StatusOr<std::string> stored = core.store->GetBlob(kProbesBlob);
  if (absl::IsNotFound(stored.status())) return absl::OkStatus();
  if (!stored.ok()) return stored.status();
  v1::SetProbesRequest request;
  if (!request.ParseFromString(*stored)) {
    return absl::DataLossError("the stored probes (blob 'probes') do not parse");
  }
  absl::StatusOr<std::shared_ptr<std::vector<ProbeTask>>> tasks =
      BuildProbeTasks(request, core, absl::InfiniteFuture());
  if (!tasks.ok()) return tasks.status();
  core.learner->SetProbes(*std::move(tasks));
  return absl::OkStatus();
}

}  // namespace perennial
