// File: learner/data/test_files.h
//
// Test-only helpers: whole-file writes, and TempDir (tests/temp_dir.h).
#ifndef PERENNIAL_LEARNER_DATA_TEST_FILES_H_
#define PERENNIAL_LEARNER_DATA_TEST_FILES_H_

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

namespace perennial {

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void WriteText(const std::string& path, const std::string& text) {
  WriteBytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_TEST_FILES_H_
