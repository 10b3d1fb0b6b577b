// File: learner/model/png_codec.h
//
// libpng behind perennial::Status. Internal to perennial_image_io: use image_io.h.
#ifndef PERENNIAL_LEARNER_MODEL_PNG_CODEC_H_
#define PERENNIAL_LEARNER_MODEL_PNG_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "learner/base/status.h"
#include "learner/model/image.h"

namespace perennial {

// Decodes PNG bytes (signature included) as documented in image_io.h.
StatusOr<Image> DecodePng(const uint8_t* data, size_t size, int64_t max_pixels);

// Writes a valid `image` as an 8-bit PNG.
Status WritePngFile(const std::string& path, const Image& image);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_PNG_CODEC_H_
