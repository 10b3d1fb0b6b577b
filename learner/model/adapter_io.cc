#include "learner/model/adapter_io.h"

#include "learner/base/torch_status.h"
#include "learner/model/safetensors.h"

namespace perennial {
namespace {

constexpr char kFormat[] = "perennial-adapters-v1";

StatusOr<std::vector<std::pair<std::string, torch::Tensor>>> TensorsToSave(
    const Adapters& adapters) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, tensor] : adapters.NamedTensors()) {
    if (!tensor.defined()) {
      return FailedPreconditionError("adapter tensor '" + name +
                                     "' is undefined (merged adapters cannot be saved)");
    }
    out.emplace_back(name, tensor.detach().to(torch::kCPU, torch::kFloat32));
  }
  return out;
}

std::map<std::string, std::string> Metadata(const Adapters& adapters, const ClipConfig& base) {
  std::map<std::string, std::string> metadata = adapters.options().ToMetadata();
  metadata["format"] = kFormat;
  metadata["base.config"] = base.ToString();
  return metadata;
}

StatusOr<Adapters> FromFile(const TensorFile& file, const ClipConfig& base,
                            const std::string& name) {
  auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != kFormat) {
    return InvalidArgumentError(name + ": not a perennial adapter file (metadata 'format' is not " +
                                kFormat + ")");
  }
  auto config = file.metadata.find("base.config");
  if (config == file.metadata.end() || config->second != base.ToString()) {
    return FailedPreconditionError(
        name + ": adapters were trained for base model '" +
        (config == file.metadata.end() ? std::string("?") : config->second) +
        "', not for the loaded '" + base.ToString() + "'");
  }
  StatusOr<PetOptions> options = PetOptions::FromMetadata(file.metadata);
  if (!options.ok()) {
    return InvalidArgumentError(name + ": " + std::string(options.status().message()));
  }
  StatusOr<Adapters> adapters = Adapters::FromNamedTensors(base, *options, file.tensors);
  if (!adapters.ok()) {
    return InvalidArgumentError(name + ": " + std::string(adapters.status().message()));
  }
  return adapters;
}

}  // namespace

Status SaveAdapters(const std::string& path, const Adapters& adapters, const ClipConfig& base) {
  PERENNIAL_ASSIGN_OR_RETURN(auto tensors, TensorsToSave(adapters));
  return WriteSafetensors(path, tensors, Metadata(adapters, base));
}

StatusOr<Adapters> LoadAdapters(const std::string& path, const ClipConfig& base) {
  PERENNIAL_ASSIGN_OR_RETURN(TensorFile file, ReadSafetensors(path));
  return FromFile(file, base, path);
}

StatusOr<std::string> SerializeAdapters(const Adapters& adapters, const ClipConfig& base) {
  PERENNIAL_ASSIGN_OR_RETURN(auto tensors, TensorsToSave(adapters));
  return SerializeSafetensors(tensors, Metadata(adapters, base));
}

StatusOr<Adapters> ParseAdapters(const std::string& bytes, const ClipConfig& base,
                                 const std::string& name_for_errors) {
  PERENNIAL_ASSIGN_OR_RETURN(TensorFile file, ParseSafetensors(bytes, name_for_errors));
  return FromFile(file, base, name_for_errors);
}

}  // namespace perennial
