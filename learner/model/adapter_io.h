// File: learner/model/adapter_io.h
//
// Adapters as safetensors: the tensors under the names of Adapters::NamedTensors(), the PET
// options in the metadata ("pet.*"), and the base model's shape ("base.config") so that loading
// onto a different architecture is a clear error rather than a shape crash. Merged adapters
// (ClipModel::MergeAdapters) are an inference form and are not saved.
#ifndef PERENNIAL_LEARNER_MODEL_ADAPTER_IO_H_
#define PERENNIAL_LEARNER_MODEL_ADAPTER_IO_H_

#include <string>

#include "learner/base/status.h"
#include "learner/model/clip_config.h"
#include "learner/model/pet.h"

namespace perennial {

// Writes atomically (see WriteSafetensors). Tensors are stored as fp32.
Status SaveAdapters(const std::string& path, const Adapters& adapters, const ClipConfig& base);
StatusOr<Adapters> LoadAdapters(const std::string& path, const ClipConfig& base);

// In-memory forms of the same bytes (checkpoints keep adapters in the store).
StatusOr<std::string> SerializeAdapters(const Adapters& adapters, const ClipConfig& base);
StatusOr<Adapters> ParseAdapters(const std::string& bytes, const ClipConfig& base,
                                 const std::string& name_for_errors);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_ADAPTER_IO_H_
