// File: learner/data/dataset.h
//
// A labeled image dataset held in memory: every image's HWC uint8 pixels in one contiguous buffer,
// one int32 label per image, and the class names the labels index. Readers (fashion_mnist.h,
// cifar.h, image_folder.h) return a Dataset; stream orders (stream.h) consume labels().
//
// Images keep their stored channel count (Fashion-MNIST is 1-channel grayscale, CIFAR 3-channel
// RGB); replicating grayscale to 3 channels is left to the model's preprocessing, which accepts
// 1-4 channels. Images may differ in size (image folders); readers of fixed-size formats produce
// uniform ones.
//
// Class names are the dataset's own documented texts, unchanged (e.g. Fashion-MNIST's
// "T-shirt/top" and "Ankle boot", CIFAR-10's "airplane"): CLIP's tokenizer lower-cases anyway, and
// keeping the documented spelling makes labels recognisable in reports.
//
// Thread-safety: const methods may be called concurrently; Add() needs exclusive access.
#ifndef PERENNIAL_LEARNER_DATA_DATASET_H_
#define PERENNIAL_LEARNER_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "learner/base/status.h"
#include "learner/model/image.h"

namespace perennial {

enum class Split { kTrain, kTest };

struct LabeledImage {
  Image image;
  int32_t label = 0;
};

// A non-owning view of one stored image; valid while the Dataset is alive and not modified.
struct ImageView {
  int height = 0;
  int width = 0;
  int channels = 0;
  const uint8_t* pixels = nullptr;  // height * width * channels bytes, HWC
  int32_t label = 0;
};

class Dataset {
 public:
  Dataset() = default;
  explicit Dataset(std::vector<std::string> class_names) : class_names_(std::move(class_names)) {}

  // A dataset of `labels.size()` images of one shape whose pixels are concatenated in `pixels`
  // (HWC per image). Errors (InvalidArgumentError): non-positive dimensions, channels outside 1-4,
  // a pixel buffer of the wrong size, or a label outside [0, class_names.size()).
  static StatusOr<Dataset> FromUniform(int height, int width, int channels,
                                       std::vector<uint8_t> pixels, std::vector<int32_t> labels,
                                       std::vector<std::string> class_names);

  // Appends a copy of `image` with `label`. Errors as for FromUniform.
  Status Add(const Image& image, int32_t label);

  int64_t size() const { return static_cast<int64_t>(labels_.size()); }
  bool empty() const { return labels_.empty(); }

  // Copy of image i with its label. Precondition: 0 <= i < size().
  LabeledImage Get(int64_t i) const;
  // Like Get, but OutOfRangeError for a bad index.
  StatusOr<LabeledImage> At(int64_t i) const;
  // Cheap view of image i. Precondition: 0 <= i < size().
  ImageView View(int64_t i) const;

  // Label of each image, by index (the input of stream orders).
  const std::vector<int32_t>& labels() const { return labels_; }
  // Text of each class; labels index it.
  const std::vector<std::string>& class_names() const { return class_names_; }
  int num_classes() const { return static_cast<int>(class_names_.size()); }

  // Total bytes of pixel data held.
  int64_t pixel_bytes() const { return static_cast<int64_t>(pixels_.size()); }

 private:
  struct Shape {
    int32_t height;
    int32_t width;
    int32_t channels;
  };

  Status CheckLabel(int32_t label) const;

  std::vector<std::string> class_names_;
  std::vector<int32_t> labels_;
  std::vector<Shape> shapes_;     // per image
  std::vector<int64_t> offsets_;  // per image, start of its pixels in pixels_
  std::vector<uint8_t> pixels_;   // all images, HWC, concatenated
};

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_DATA_DATASET_H_
