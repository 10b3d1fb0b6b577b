// File: storage/test_util.h
//
// Helpers for storage tests: a temporary directory removed at scope exit, and sample factories.
#ifndef PERENNIAL_STORAGE_TEST_UTIL_H_
#define PERENNIAL_STORAGE_TEST_UTIL_H_

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "perennial/v1/sample.pb.h"

namespace perennial {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/perennial-test-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code error;
    if (!path_.empty()) std::filesystem::remove_all(path_, error);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty if the directory could not be created.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A 28x28 grayscale raw sample whose pixels are derived from `id`, with label "class<id % 10>".
inline v1::Sample MakeTestSample(uint32_t id, std::string key = "") {
  v1::Sample sample;
  v1::RawImage* raw = sample.mutable_image()->mutable_raw();
  raw->set_height(28);
  raw->set_width(28);
  raw->set_channels(1);
  std::string pixels(28 * 28, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) {
    pixels[i] = static_cast<char>((id * 31 + i * 7) & 0xff);
  }
  raw->set_pixels(pixels);
  sample.set_label("class" + std::to_string(id % 10));
  sample.set_idempotency_key(std::move(key));
  return sample;
}

}  // namespace perennial

#endif  // PERENNIAL_STORAGE_TEST_UTIL_H_
