// File: learner/model/safetensors.h
//
// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
//
//   [u64 little-endian N][N bytes of JSON header, space-padded][raw little-endian tensor bytes]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the first byte after the header) and may hold "__metadata__": {string: string}.
//
// The reader is strict, like the reference library: the header must be well-formed JSON with
// exactly those fields, dtypes must be one of F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL, each
// tensor's byte span must equal shape x itemsize, and the spans must tile the data area exactly
// (no overlap, no hole, nothing after the last tensor). Every error is InvalidArgumentError (or
// NotFoundError for a missing file) and its message starts with the file name and names the
// tensor at fault. Nothing here crashes or throws on bad input.
//
// The writer lays tensors out as the Python library does (descending dtype, then name; header
// "__metadata__" first, compact JSON, padded with spaces to a multiple of 8), so the same tensors
// serialize to the same bytes.
//
// Example:
//   PERENNIAL_ASSIGN_OR_RETURN(TensorFile file, ReadSafetensors("model.safetensors"));
//   for (const auto& [name, tensor] : file.tensors) { ... }
//
// Thread-safety: all functions are reentrant; they share no state.
#ifndef PERENNIAL_LEARNER_MODEL_SAFETENSORS_H_
#define PERENNIAL_LEARNER_MODEL_SAFETENSORS_H_

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

// The contents of one safetensors file. Tensors are CPU, contiguous, in the file's dtype, and own
// their memory (nothing refers to the file or the input buffer). `tensors` is in header order.
struct TensorFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::map<std::string, std::string> metadata;
};

// Reads the safetensors file at `path`. Tensor bytes are read straight into each tensor's storage,
// so peak memory is the tensors themselves plus the header.
StatusOr<TensorFile> ReadSafetensors(const std::string& path);

// Parses an in-memory safetensors image. `name_for_errors` prefixes every error message.
StatusOr<TensorFile> ParseSafetensors(const std::string& bytes, const std::string& name_for_errors);

// Writes `tensors` and `metadata` to `path` atomically: a temporary file in the same directory is
// written, fsync'ed and renamed over `path`, then the directory is fsync'ed; on any error `path`
// is untouched. Tensors may live on any device and be non-contiguous; their dtype must be one of
// those listed above. Names must be unique, non-empty, valid UTF-8 and not "__metadata__".
// An empty `metadata` writes no "__metadata__" entry.
Status WriteSafetensors(const std::string& path,
                        const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                        const std::map<std::string, std::string>& metadata);

// The bytes WriteSafetensors would write, for in-memory use (e.g. adapters kept in a database).
StatusOr<std::string> SerializeSafetensors(
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_SAFETENSORS_H_
