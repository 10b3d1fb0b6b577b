#include "learner/model/image.h"

#include <string>

namespace perennial {
namespace {

std::string Shape(int64_t height, int64_t width, int64_t channels) {
  return std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels);
}

Status ValidateShape(int height, int width, int channels) {
  if (height <= 0 || width <= 0) {
    return InvalidArgumentError("image height and width must be positive, got " +
                                Shape(height, width, channels) + " (HxWxC)");
  }
  if (channels < 1 || channels > 4) {
    return InvalidArgumentError(
        "image channels must be 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA), got " +
        std::to_string(channels));
  }
  return OkStatus();
}

}  // namespace

Status ValidateImage(const Image& image) {
  PERENNIAL_RETURN_IF_ERROR(ValidateShape(image.height, image.width, image.channels));
  const uint64_t expected = static_cast<uint64_t>(image.height) *
                            static_cast<uint64_t>(image.width) *
                            static_cast<uint64_t>(image.channels);
  if (image.pixels.size() != expected) {
    return InvalidArgumentError("image pixels hold " + std::to_string(image.pixels.size()) +
                                " bytes, but " + Shape(image.height, image.width, image.channels) +
                                " needs " + std::to_string(expected));
  }
  return OkStatus();
}

StatusOr<Image> ImageFromRaw(const uint8_t* data, size_t size, int height, int width, int channels,
                             int64_t max_pixels) {
  PERENNIAL_RETURN_IF_ERROR(ValidateShape(height, width, channels));
  const int64_t pixel_count = int64_t{height} * width;
  if (pixel_count > max_pixels) {
    return ResourceExhaustedError("raw image " + Shape(height, width, channels) + " has " +
                                  std::to_string(pixel_count) + " pixels, more than the limit " +
                                  std::to_string(max_pixels));
  }
  const uint64_t expected = static_cast<uint64_t>(pixel_count) * static_cast<uint64_t>(channels);
  if (size != expected) {
    return InvalidArgumentError("raw image data has " + std::to_string(size) + " bytes, but " +
                                Shape(height, width, channels) + " (HxWxC uint8) needs " +
                                std::to_string(expected));
  }
  if (data == nullptr) return InvalidArgumentError("raw image data is null");
  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.assign(data, data + size);
  return image;
}

}  // namespace perennial
