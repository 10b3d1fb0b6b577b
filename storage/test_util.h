// File: storage/test_util.h
//
// Helpers for storage tests: opening a test store, sample factories, and TempDir
// (tests/temp_dir.h).
#ifndef PERENNIAL_STORAGE_TEST_UTIL_H_
#define PERENNIAL_STORAGE_TEST_UTIL_H_

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "perennial/v1/sample.pb.h"
#include "storage/store.h"
#include "tests/temp_dir.h"

namespace perennial {

// Opens (creating it if missing) the Store in `dir` for `base_model_id`, with the other options at
// their defaults. Returns nullptr, having printed why to stderr, when it cannot (no GoogleTest
// here: storage_bench uses this header too).
inline std::unique_ptr<Store> OpenTestStore(const std::string& dir,
                                            const std::string& base_model_id = "clip-test") {
  StoreOptions options;
  options.dir = dir;
  options.base_model_id = base_model_id;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (store.ok()) return *std::move(store);
  std::cerr << "OpenTestStore(" << dir << "): " << store.status() << "\n";
  return nullptr;
}

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
