// File: learner/data/fashion_mnist.cc
#include "learner/data/fashion_mnist.h"

#include <cstdint>
#include <cstdio>
#include <utility>

#include "learner/data/read_file.h"

namespace perennial {
namespace {

constexpr uint32_t kIdxUbyte3d = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kIdxUbyte1d = 0x00000801;  // unsigned byte, 1 dimension
// Larger images than this in an IDX file are surely corrupt headers (MNIST-style data is tiny).
constexpr uint32_t kMaxIdxSide = 4096;

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string Hex(uint32_t v) {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "0x%08x", v);
  return buffer;
}

// Checks the header of an IDX file with `dims` dimensions and returns them; the file must hold
// exactly the elements the header announces.
StatusOr<std::vector<uint32_t>> ParseIdxHeader(const std::vector<uint8_t>& bytes, uint32_t magic,
                                               int dims, const std::string& path) {
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() < header) {
    return DataLossError(path + ": " + std::to_string(bytes.size()) +
                         " bytes, too short for an IDX header");
  }
  if (BigEndian32(bytes.data()) != magic) {
    return DataLossError(path + ": magic number " + Hex(BigEndian32(bytes.data())) + ", expected " +
                         Hex(magic));
  }
  std::vector<uint32_t> shape;
  // Saturates at 2^62 so three 32-bit dimensions cannot overflow; any such size mismatches.
  uint64_t elements = 1;
  constexpr uint64_t kSaturated = uint64_t{1} << 62;
  for (int d = 0; d < dims; ++d) {
    shape.push_back(BigEndian32(bytes.data() + 4 + 4 * d));
    const uint64_t dim = shape.back();
    elements = (dim != 0 && elements > kSaturated / dim) ? kSaturated : elements * dim;
  }
  if (elements != bytes.size() - header) {
    return DataLossError(path + ": header announces " + std::to_string(elements) +
                         " bytes of data, file holds " + std::to_string(bytes.size() - header) +
                         (elements > bytes.size() - header ? " (truncated)" : ""));
  }
  return shape;
}

std::string SplitPrefix(Split split) { return split == Split::kTrain ? "train" : "t10k"; }

// `dir`/`name`, or `dir`/`name`.gz if only that exists.
std::string FindFile(const std::string& dir, const std::string& name) {
  const std::string plain = dir + "/" + name;
  if (FileExists(plain)) return plain;
  if (FileExists(plain + ".gz")) return plain + ".gz";
  return plain;  // reading it gives NOT_FOUND naming the plain name
}

}  // namespace

const std::vector<std::string>& FashionMnistClassNames() {
  static const std::vector<std::string>* const kNames =
      new std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return *kNames;
}

StatusOr<Dataset> LoadIdxDataset(const std::string& images_path, const std::string& labels_path,
                                 std::vector<std::string> class_names) {
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> images, ReadFileBytes(images_path));
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint32_t> image_shape,
                             ParseIdxHeader(images, kIdxUbyte3d, 3, images_path));
  if (image_shape[1] == 0 || image_shape[2] == 0 || image_shape[1] > kMaxIdxSide ||
      image_shape[2] > kMaxIdxSide) {
    return DataLossError(images_path + ": implausible image size " +
                         std::to_string(image_shape[1]) + "x" + std::to_string(image_shape[2]));
  }
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> label_bytes, ReadFileBytes(labels_path));
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint32_t> label_shape,
                             ParseIdxHeader(label_bytes, kIdxUbyte1d, 1, labels_path));
  if (label_shape[0] != image_shape[0]) {
    return DataLossError(labels_path + ": " + std::to_string(label_shape[0]) + " labels but " +
                         images_path + " holds " + std::to_string(image_shape[0]) + " images");
  }
  std::vector<int32_t> labels(label_bytes.begin() + 8, label_bytes.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= static_cast<int32_t>(class_names.size())) {
      return DataLossError(labels_path + ": label " + std::to_string(labels[i]) + " of sample " +
                           std::to_string(i) + " is not below " +
                           std::to_string(class_names.size()));
    }
  }
  images.erase(images.begin(), images.begin() + 16);
  return Dataset::FromUniform(static_cast<int>(image_shape[1]), static_cast<int>(image_shape[2]), 1,
                              std::move(images), std::move(labels), std::move(class_names));
}

StatusOr<Dataset> LoadFashionMnist(const std::string& dir, Split split) {
  const std::string prefix = SplitPrefix(split);
  return LoadIdxDataset(FindFile(dir, prefix + "-images-idx3-ubyte"),
                        FindFile(dir, prefix + "-labels-idx1-ubyte"), FashionMnistClassNames());
}

}  // namespace perennial
