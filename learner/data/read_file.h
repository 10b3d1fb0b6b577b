// File: learner/data/read_file.h
//
// Whole-file reads for the dataset readers, transparently gunzipping files whose name ends in
// ".gz" (Debian ships Fashion-MNIST gzipped). Gzip support needs zlib: the build defines
// PERENNIAL_HAVE_ZLIB=1 on perennial_data when CMake finds it (always in the full build, where
// libpng already requires zlib; in PERENNIAL_MODEL_ONLY builds only if the machine has it).
// Without zlib, reading a ".gz" file is UNIMPLEMENTED with a message saying to gunzip it.
#ifndef PERENNIAL_LEARNER_DATA_READ_FILE_H_
#define PERENNIAL_LEARNER_DATA_READ_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

// Default cap on the (decompressed) size of a dataset file: 1 GiB.
inline constexpr int64_t kDefaultMaxFileBytes = int64_t{1} << 30;

// Reads all of `path` (decompressed if it ends in ".gz"). Errors name the path:
//   NOT_FOUND           the file cannot be opened;
//   DATA_LOSS           a read or gzip stream error (corrupt or truncated .gz);
//   RESOURCE_EXHAUSTED  the (decompressed) content exceeds max_bytes;
//   UNIMPLEMENTED       a ".gz" file in a build without zlib.
StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path,
                                             int64_t max_bytes = kDefaultMaxFileBytes);

// True if `path` names an existing regular file.
bool FileExists(const std::string& path);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_READ_FILE_H_
