// File: learner/model/jpeg_codec.h
//
// libjpeg-turbo (TurboJPEG API) behind perennial::Status. Internal to perennial_image_io: use
// image_io.h.
#ifndef PERENNIAL_LEARNER_MODEL_JPEG_CODEC_H_
#define PERENNIAL_LEARNER_MODEL_JPEG_CODEC_H_

#include <cstddef>
#include <cstdint>

#include "learner/base/status.h"
#include "learner/model/image.h"

namespace perennial {

// Decodes JPEG bytes as documented in image_io.h, reduced as DecodeOptions::draft_min_side says.
StatusOr<Image> DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels,
                           int draft_min_side);

// OK exactly when DecodeJpeg would succeed, else an error of the same code, at a fraction of
// its cost (see VerifyImage in image_io.h).
Status VerifyJpeg(const uint8_t* data, size_t size, int64_t max_pixels);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_JPEG_CODEC_H_
