// File: learner/data/cifar.cc
#include "learner/data/cifar.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "learner/data/read_file.h"

namespace perennial {
namespace {

constexpr int kSide = 32;
constexpr int kPlane = kSide * kSide;
constexpr int kImageBytes = 3 * kPlane;

// Non-blank lines of a names file, without surrounding whitespace (the files end in "\n\n" and
// may have CRLF line ends).
StatusOr<std::vector<std::string>> ReadNames(const std::string& path) {
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path, 1 << 20));
  std::vector<std::string> names;
  std::string line;
  auto flush = [&] {
    const size_t begin = line.find_first_not_of(" \t\r");
    if (begin != std::string::npos) {
      names.push_back(line.substr(begin, line.find_last_not_of(" \t\r") + 1 - begin));
    }
    line.clear();
  };
  for (uint8_t c : bytes) {
    if (c == '\n') {
      flush();
    } else {
      line.push_back(static_cast<char>(c));
    }
  }
  flush();
  if (names.empty()) return DataLossError(path + ": no class names");
  return names;
}

// Appends the records of one .bin file: `label_bytes` leading label bytes per record, of which the
// one at `label_offset` is kept.
Status AppendRecords(const std::string& path, int label_bytes, int label_offset, size_t num_classes,
                     std::vector<uint8_t>& pixels, std::vector<int32_t>& labels) {
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFileBytes(path));
  const size_t record = static_cast<size_t>(label_bytes) + kImageBytes;
  if (bytes.empty() || bytes.size() % record != 0) {
    return DataLossError(path + ": " + std::to_string(bytes.size()) +
                         " bytes is not a whole number of " + std::to_string(record) +
                         "-byte records (truncated or not a CIFAR binary file)");
  }
  const size_t count = bytes.size() / record;
  pixels.reserve(pixels.size() + count * kImageBytes);
  for (size_t r = 0; r < count; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    const int32_t label = rec[label_offset];
    if (static_cast<size_t>(label) >= num_classes) {
      return DataLossError(path + ": record " + std::to_string(r) + " has label " +
                           std::to_string(label) + ", not below the " +
                           std::to_string(num_classes) + " class names");
    }
    labels.push_back(label);
    const uint8_t* planes = rec + label_bytes;
    for (int p = 0; p < kPlane; ++p) {
      for (int c = 0; c < 3; ++c) pixels.push_back(planes[c * kPlane + p]);
    }
  }
  return OkStatus();
}

StatusOr<Dataset> LoadBins(const std::string& dir, const std::vector<std::string>& files,
                           int label_bytes, int label_offset, const std::string& names_file) {
  PERENNIAL_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadNames(dir + "/" + names_file));
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (const std::string& file : files) {
    PERENNIAL_RETURN_IF_ERROR(
        AppendRecords(dir + "/" + file, label_bytes, label_offset, names.size(), pixels, labels));
  }
  return Dataset::FromUniform(kSide, kSide, 3, std::move(pixels), std::move(labels),
                              std::move(names));
}

}  // namespace

StatusOr<Dataset> LoadCifar10(const std::string& dir, Split split) {
  std::vector<std::string> files;
  if (split == Split::kTrain) {
    for (int b = 1; b <= 5; ++b) files.push_back("data_batch_" + std::to_string(b) + ".bin");
  } else {
    files.push_back("test_batch.bin");
  }
  return LoadBins(dir, files, 1, 0, "batches.meta.txt");
}

StatusOr<Dataset> LoadCifar100(const std::string& dir, Split split, Cifar100Label label) {
  const bool fine = label == Cifar100Label::kFine;
  return LoadBins(dir, {split == Split::kTrain ? "train.bin" : "test.bin"}, 2, fine ? 1 : 0,
                  fine ? "fine_label_names.txt" : "coarse_label_names.txt");
}

}  // namespace perennial
