// File: learner/data/dataset.cc
#include "learner/data/dataset.h"

#include <algorithm>
#include <cstring>

namespace perennial {
namespace {

Status CheckShape(int height, int width, int channels) {
  if (height <= 0 || width <= 0 || channels < 1 || channels > 4) {
    return InvalidArgumentError("dataset: bad image shape " + std::to_string(height) + "x" +
                                std::to_string(width) + "x" + std::to_string(channels) +
                                " (need positive height and width, 1-4 channels)");
  }
  return OkStatus();
}

}  // namespace

Status Dataset::CheckLabel(int32_t label) const {
  if (label < 0 || label >= num_classes()) {
    return InvalidArgumentError("dataset: label " + std::to_string(label) + " outside [0, " +
                                std::to_string(num_classes()) + ")");
  }
  return OkStatus();
}

StatusOr<Dataset> Dataset::FromUniform(int height, int width, int channels,
                                       std::vector<uint8_t> pixels, std::vector<int32_t> labels,
                                       std::vector<std::string> class_names) {
  PERENNIAL_RETURN_IF_ERROR(CheckShape(height, width, channels));
  const int64_t image_bytes = int64_t{height} * width * channels;
  const int64_t count = static_cast<int64_t>(labels.size());
  if (static_cast<int64_t>(pixels.size()) != image_bytes * count) {
    return InvalidArgumentError("dataset: pixel buffer holds " + std::to_string(pixels.size()) +
                                " bytes, expected " + std::to_string(count) + " images of " +
                                std::to_string(image_bytes) + " bytes");
  }
  Dataset dataset(std::move(class_names));
  for (int32_t label : labels) PERENNIAL_RETURN_IF_ERROR(dataset.CheckLabel(label));
  dataset.labels_ = std::move(labels);
  dataset.pixels_ = std::move(pixels);
  dataset.shapes_.assign(count, Shape{height, width, channels});
  dataset.offsets_.resize(count);
  for (int64_t i = 0; i < count; ++i) dataset.offsets_[i] = i * image_bytes;
  return dataset;
}

Status Dataset::Add(const Image& image, int32_t label) {
  PERENNIAL_RETURN_IF_ERROR(CheckShape(image.height, image.width, image.channels));
  PERENNIAL_RETURN_IF_ERROR(CheckLabel(label));
  const size_t bytes = size_t{static_cast<size_t>(image.height)} * image.width * image.channels;
  if (image.pixels.size() != bytes) {
    return InvalidArgumentError("dataset: image holds " + std::to_string(image.pixels.size()) +
                                " bytes, its shape needs " + std::to_string(bytes));
  }
  offsets_.push_back(static_cast<int64_t>(pixels_.size()));
  shapes_.push_back(Shape{image.height, image.width, image.channels});
  labels_.push_back(label);
  pixels_.insert(pixels_.end(), image.pixels.begin(), image.pixels.end());
  return OkStatus();
}

ImageView Dataset::View(int64_t i) const {
  const Shape& s = shapes_[i];
  return ImageView{s.height, s.width, s.channels, pixels_.data() + offsets_[i], labels_[i]};
}

LabeledImage Dataset::Get(int64_t i) const {
  const ImageView view = View(i);
  LabeledImage out;
  out.image.height = view.height;
  out.image.width = view.width;
  out.image.channels = view.channels;
  out.image.pixels.assign(view.pixels,
                          view.pixels + int64_t{view.height} * view.width * view.channels);
  out.label = view.label;
  return out;
}

StatusOr<LabeledImage> Dataset::At(int64_t i) const {
  if (i < 0 || i >= size()) {
    return OutOfRangeError("dataset: index " + std::to_string(i) + " outside [0, " +
                           std::to_string(size()) + ")");
  }
  return Get(i);
}

}  // namespace perennial
