#include "learner/pretrain/pretrain_checkpoint.h"

#include <cstdlib>
#include <utility>
#include <vector>

#include "learner/base/torch_status.h"
#include "learner/model/clip_weights.h"
#include "learner/model/safetensors.h"

namespace perennial {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "perennial-pretrain-checkpoint-v1";
constexpr char kModelPrefix[] = "model.";
constexpr char kOptimizerPrefix[] = "optim.";

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

StatusOr<int64_t> MetadataInt(const std::map<std::string, std::string>& metadata,
                              const std::string& key, const std::string& path) {
  auto it = metadata.find(key);
  if (it == metadata.end()) return InvalidArgumentError(path + ": metadata '" + key + "' missing");
  char* end = nullptr;
  const long long value = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0') {
    return InvalidArgumentError(path + ": metadata '" + key + "' is not an integer");
  }
  return static_cast<int64_t>(value);
}

}  // namespace

Status SavePretrainCheckpoint(const std::string& path, const PretrainCheckpoint& checkpoint) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [key, t] : checkpoint.weights) tensors.emplace_back(kModelPrefix + key, t);
  for (const auto& [key, t] : checkpoint.optimizer_state) {
    tensors.emplace_back(kOptimizerPrefix + key, t);
  }
  std::map<std::string, std::string> metadata = ClipConfigMetadata(checkpoint.config);
  metadata[kFormatKey] = kFormat;
  metadata["step"] = std::to_string(checkpoint.step);
  metadata["optimizer_steps"] = std::to_string(checkpoint.optimizer_steps);
  metadata["seed"] = std::to_string(checkpoint.seed);
  metadata["batch_size"] = std::to_string(checkpoint.batch_size);
  return WriteSafetensors(path, tensors, metadata);
}

StatusOr<PretrainCheckpoint> LoadPretrainCheckpoint(const std::string& path) {
  PERENNIAL_ASSIGN_OR_RETURN(TensorFile file, ReadSafetensors(path));
  auto format = file.metadata.find(kFormatKey);
  if (format == file.metadata.end() || format->second != kFormat) {
    return InvalidArgumentError(path + ": not a perennial pretraining checkpoint (metadata '" +
                                kFormatKey + "' is not '" + kFormat + "')");
  }
  PretrainCheckpoint c;
  PERENNIAL_ASSIGN_OR_RETURN(c.step, MetadataInt(file.metadata, "step", path));
  PERENNIAL_ASSIGN_OR_RETURN(c.optimizer_steps,
                             MetadataInt(file.metadata, "optimizer_steps", path));
  PERENNIAL_ASSIGN_OR_RETURN(int64_t seed, MetadataInt(file.metadata, "seed", path));
  PERENNIAL_ASSIGN_OR_RETURN(int64_t batch, MetadataInt(file.metadata, "batch_size", path));
  c.seed = static_cast<uint64_t>(seed);
  c.batch_size = static_cast<int>(batch);
  for (auto& [name, t] : file.tensors) {
    if (StartsWith(name, kModelPrefix)) {
      c.weights[name.substr(sizeof(kModelPrefix) - 1)] = std::move(t);
    } else if (StartsWith(name, kOptimizerPrefix)) {
      c.optimizer_state[name.substr(sizeof(kOptimizerPrefix) - 1)] = std::move(t);
    } else {
      return InvalidArgumentError(path + ": unexpected tensor '" + name + "'");
    }
  }
  PERENNIAL_RETURN_IF_ERROR(CheckClipTensors(c.weights, file.metadata, path).status());
  StatusOr<ClipConfig> config = InferClipConfig(c.weights, file.metadata);
  if (!config.ok()) {
    return InvalidArgumentError(path + ": " + std::string(config.status().message()));
  }
  c.config = *config;
  return c;
}

Status ExportPretrainedModel(const std::string& path, const ClipModel& model,
                             const std::map<std::string, std::string>& extra_metadata) {
  return CatchTorch("exporting the model to " + path, [&]() -> Status {
    torch::NoGradGuard no_grad;
    std::map<std::string, torch::Tensor> tensors = model.Tensors(/*cpu_fp32=*/true);
    torch::Tensor& table = tensors.at("token_embedding.weight");
    table = table.to(torch::kFloat16);
    std::map<std::string, std::string> metadata = extra_metadata;
    for (const auto& [key, value] : ClipConfigMetadata(model.config())) metadata[key] = value;
    return SaveClipWeights(path, tensors, metadata);
  });
}

}  // namespace perennial
