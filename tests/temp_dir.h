// File: tests/temp_dir.h
//
// For tests and benchmarks: a fresh directory that is removed, with everything in it, when the
// object goes out of scope. Header-only and standard C++ only, so that a test of any library
// (storage, learner, server) can use it without depending on another.
#ifndef PERENNIAL_TESTS_TEMP_DIR_H_
#define PERENNIAL_TESTS_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace perennial {

class TempDir {
 public:
  // Creates <temp>/<prefix>-XXXXXX, <temp> being $TMPDIR or /tmp. path() is empty when that
  // fails; callers that need the directory assert on it.
  explicit TempDir(const std::string& prefix = "perennial-test") {
    std::error_code error;
    std::filesystem::path base = std::filesystem::temp_directory_path(error);
    if (error) base = "/tmp";
    std::string pattern = (base / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` inside the directory (not created).
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace perennial

#endif  // PERENNIAL_TESTS_TEMP_DIR_H_
