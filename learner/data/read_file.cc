// File: learner/data/read_file.cc
#include "learner/data/read_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <memory>

#if PERENNIAL_HAVE_ZLIB
#include <zlib.h>
#endif

namespace perennial {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status TooLarge(const std::string& path, int64_t max_bytes) {
  return ResourceExhaustedError(path + ": larger than the limit of " + std::to_string(max_bytes) +
                                " bytes");
}

StatusOr<std::vector<uint8_t>> ReadPlain(const std::string& path, int64_t max_bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return NotFoundError(path + ": cannot open");
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    if (static_cast<int64_t>(bytes.size() + n) > max_bytes) return TooLarge(path, max_bytes);
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  if (std::ferror(file.get())) return DataLossError(path + ": read error");
  return bytes;
}

#if PERENNIAL_HAVE_ZLIB
StatusOr<std::vector<uint8_t>> ReadGzip(const std::string& path, int64_t max_bytes) {
  FILE* probe = std::fopen(path.c_str(), "rb");
  if (!probe) return NotFoundError(path + ": cannot open");
  std::fclose(probe);
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), &gzclose);
  if (!file) return NotFoundError(path + ": cannot open");
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  for (;;) {
    const int n = gzread(file.get(), buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      return DataLossError(path + ": gzip error: " + (message ? message : "unknown"));
    }
    if (n == 0) break;
    if (static_cast<int64_t>(bytes.size()) + n > max_bytes) return TooLarge(path, max_bytes);
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  // gzread returns 0 both at a clean end and at a truncated stream; zlib reports the latter here.
  int code = 0;
  const char* message = gzerror(file.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    return DataLossError(path + ": gzip error: " + (message ? message : "unknown"));
  }
  return bytes;
}
#endif

}  // namespace

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StatusOr<std::vector<uint8_t>> ReadFileBytes(const std::string& path, int64_t max_bytes) {
  if (!EndsWith(path, ".gz")) return ReadPlain(path, max_bytes);
#if PERENNIAL_HAVE_ZLIB
  return ReadGzip(path, max_bytes);
#else
  return UnimplementedError(path +
                            ": this build has no zlib (PERENNIAL_MODEL_ONLY without "
                            "zlib); gunzip the file and pass the directory again");
#endif
}

}  // namespace perennial
