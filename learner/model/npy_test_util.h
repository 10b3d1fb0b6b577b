// File: learner/model/npy_test_util.h
//
// Test-only: reads the small .npy reference arrays written by tests/fixtures/*.py (numpy format
// version 1.0/2.0, C order, dtype uint8 or little-endian float32). Header-only, torch-free.
#ifndef PERENNIAL_LEARNER_MODEL_NPY_TEST_UTIL_H_
#define PERENNIAL_LEARNER_MODEL_NPY_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "learner/model/image.h"

namespace perennial {
namespace test_util {

struct NpyArray {
  std::string dtype;  // "u1" or "f4"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // raw little-endian data

  int64_t NumElements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  std::vector<float> AsFloats() const {
    if (dtype != "f4") throw std::runtime_error("npy: not float32");
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
  }
};

inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Throws std::runtime_error on anything unexpected (a test fixture problem, not a code path).
inline NpyArray ReadNpy(const std::string& path) {
  const std::vector<uint8_t> file = ReadFileBytes(path);
  if (file.size() < 10 || std::memcmp(file.data(), "\x93NUMPY", 6) != 0) {
    throw std::runtime_error(path + ": not an npy file");
  }
  const int major = file[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = file[8] | (file[9] << 8);
    offset = 10;
  } else {
    header_len = file[8] | (file[9] << 8) | (file[10] << 16) | (size_t{file[11]} << 24);
    offset = 12;
  }
  const std::string header(file.begin() + offset, file.begin() + offset + header_len);
  NpyArray array;
  if (header.find("'descr': '|u1'") != std::string::npos) {
    array.dtype = "u1";
  } else if (header.find("'descr': '<f4'") != std::string::npos) {
    array.dtype = "f4";
  } else {
    throw std::runtime_error(path + ": unsupported dtype in " + header);
  }
  if (header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(path + ": Fortran order");
  }
  const size_t open = header.find('(', header.find("'shape'"));
  const size_t close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = dims.find(',', pos);
    const std::string token =
        dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (token.find_first_of("0123456789") != std::string::npos) {
      array.shape.push_back(std::stoll(token));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  const size_t element_size = array.dtype == "f4" ? 4 : 1;
  array.bytes.assign(file.begin() + offset + header_len, file.end());
  if (array.bytes.size() != static_cast<size_t>(array.NumElements()) * element_size) {
    throw std::runtime_error(path + ": data size does not match shape");
  }
  return array;
}

// An HWC uint8 array as an Image.
inline Image NpyToImage(const NpyArray& array) {
  if (array.dtype != "u1" || array.shape.size() != 3) {
    throw std::runtime_error("npy: expected uint8 HWC");
  }
  Image image;
  image.height = static_cast<int>(array.shape[0]);
  image.width = static_cast<int>(array.shape[1]);
  image.channels = static_cast<int>(array.shape[2]);
  image.pixels = array.bytes;
  return image;
}

}  // namespace test_util
}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_NPY_TEST_UTIL_H_
