// File: learner/model/image.h
//
// perennial::Image: decoded pixels as plain bytes, shared by the decoders (image_io.h, which need
// libpng and libjpeg-turbo) and the LibTorch preprocessing (preprocess.h, which must not). This
// header and image.cc depend on nothing but perennial::Status.
#ifndef PERENNIAL_LEARNER_MODEL_IMAGE_H_
#define PERENNIAL_LEARNER_MODEL_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "learner/base/status.h"

namespace perennial {

// An 8-bit image, row-major HWC: the sample of channel c of pixel (y, x) is
// pixels[(y * width + x) * channels + c].
//   channels == 1: gray
//   channels == 2: gray + alpha
//   channels == 3: RGB
//   channels == 4: RGBA
// Alpha is straight (not premultiplied), as in PNG files and Pillow's "LA"/"RGBA" modes.
// A valid image has height, width > 0 and pixels.size() == height * width * channels
// (see ValidateImage); a default-constructed Image is empty and invalid.
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

// Default cap on height * width for decoded and raw images: 64 Mi pixels (a 8192 x 8192 photo;
// 256 MiB as RGBA). Bounds the memory an untrusted request can make us allocate.
inline constexpr int64_t kDefaultMaxPixels = int64_t{64} * 1024 * 1024;

// OK iff `image` is valid as described above. INVALID_ARGUMENT naming the bad field otherwise.
Status ValidateImage(const Image& image);

// Copies `size` bytes of raw HWC uint8 pixels into an Image. Errors:
//   INVALID_ARGUMENT   height/width not positive, channels not in 1..4, data null, or
//                      size != height * width * channels (the message gives both numbers);
//   RESOURCE_EXHAUSTED height * width > max_pixels.
StatusOr<Image> ImageFromRaw(const uint8_t* data, size_t size, int height, int width, int channels,
                             int64_t max_pixels = kDefaultMaxPixels);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_IMAGE_H_
