// File: learner/model/default_model.h
//
// Where the embedded default model lives, shared by every binary that takes --model
// (the `perennial` CLI, perennial-server, benchmarks). Torch-free: it only finds a file.
#ifndef PERENNIAL_LEARNER_MODEL_DEFAULT_MODEL_H_
#define PERENNIAL_LEARNER_MODEL_DEFAULT_MODEL_H_

#include <string>

#include "learner/base/status.h"

namespace perennial {

// File name of the embedded default model under models/.
inline constexpr char kDefaultModelFile[] = "perennial-tiny-clip.safetensors";

// The weight file to load: `requested` if non-empty, else $PERENNIAL_MODEL when set and
// non-empty, else the first existing of
//   <directory of the executable>/../share/perennial/models/<kDefaultModelFile> (installed),
//   <source tree>/models/<kDefaultModelFile>                                     (build tree).
// NOT_FOUND (saying how to pass a model) when none exists. Does not check that the file loads.
StatusOr<std::string> ResolveModelPath(const std::string& requested);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_DEFAULT_MODEL_H_
