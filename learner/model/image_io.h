// File: learner/model/image_io.h
//
// Decoding PNG and JPEG bytes into perennial::Image (libpng, libjpeg-turbo) and writing PNGs.
// Only built in the full build (not PERENNIAL_MODEL_ONLY): target perennial_image_io.
//
// The decoders treat their input as hostile: the pixel count is read from the header and checked
// against DecodeOptions::max_pixels before any pixel memory is allocated, and every libpng /
// libjpeg-turbo error becomes a Status (no crash, no abort, no partial image).
//
// What comes out, for each input (chosen to equal what Pillow's Image.open gives, so that the
// CLIP preprocessing matches the reference, see preprocess.h):
//   PNG gray (1/2/4/8/16-bit)    -> 1 channel (low bit depths scaled to 0..255)
//   PNG gray+alpha               -> 2 channels
//   PNG RGB                      -> 3 channels
//   PNG RGBA                     -> 4 channels
//   PNG palette                  -> 3 channels (RGB from PLTE; indices beyond PLTE are black)
//   16-bit samples               -> their high byte (Pillow does the same for RGB/RGBA/LA)
//   tRNS chunks                  -> ignored (Pillow keeps them as metadata, not as an alpha band)
//   Interlaced (Adam7) PNG       -> deinterlaced
//   JPEG grayscale               -> 1 channel
//   JPEG YCbCr/RGB               -> 3 channels (libjpeg-turbo's accurate integer IDCT and fancy
//                                   upsampling, as Pillow uses)
//   JPEG CMYK/YCCK               -> rejected (INVALID_ARGUMENT)
// JPEGs are decoded strictly: a libjpeg warning (premature end of data, corrupt data) is an
// error. EXIF orientation is not applied (neither Pillow's Image.open nor CLIP applies it).
//
// Thread-safety: all functions are reentrant; they share no state.
#ifndef PERENNIAL_LEARNER_MODEL_IMAGE_IO_H_
#define PERENNIAL_LEARNER_MODEL_IMAGE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "learner/base/status.h"
#include "learner/model/image.h"

namespace perennial {

struct DecodeOptions {
  // Largest accepted width * height, checked from the file header before decoding; a larger
  // image is RESOURCE_EXHAUSTED.
  // Default: kDefaultMaxPixels (64 Mi pixels).
  int64_t max_pixels = kDefaultMaxPixels;

  // Largest accepted encoded size in bytes (DecodeImage's `size`, ReadImageFile's file size);
  // larger is RESOURCE_EXHAUSTED.
  // Default: 256 MiB.
  int64_t max_encoded_bytes = int64_t{256} * 1024 * 1024;

  // When > 0, a JPEG whose shorter side is at least 2 * draft_min_side is decoded at 1/2, 1/4
  // or 1/8 of each side (rounded up): the largest reduction that keeps the shorter side at
  // least draft_min_side. This is Pillow's Image.draft(mode, (m, m)) with m = draft_min_side,
  // pixel for pixel: libjpeg reconstructs the smaller image in its inverse DCT, which costs a
  // fraction of a full decode plus a downscale. PNGs are always decoded in full.
  // Default: 0 (every image at full size).
  int draft_min_side = 0;
};

// Decodes a PNG or JPEG, recognised by its magic bytes (PNG: 89 50 4E 47 0D 0A 1A 0A,
// JPEG: FF D8 FF). Errors:
//   INVALID_ARGUMENT   empty input, unknown format, corrupt or truncated data, CMYK JPEG;
//                      the message names the format and libpng's / libjpeg's reason.
//   RESOURCE_EXHAUSTED the header's width * height exceeds options.max_pixels, or size exceeds
//                      options.max_encoded_bytes.
StatusOr<Image> DecodeImage(const uint8_t* data, size_t size, const DecodeOptions& options = {});

// OK exactly when DecodeImage(data, size, options) would succeed, else an error with the code
// DecodeImage would return; for checking bytes that are stored now and decoded later. A JPEG's
// every scan is entropy-decoded (where corrupt and truncated data shows) but reconstructed at
// 1/8 of each side, which costs a fraction of a full decode (bench/image_bench.cc); a PNG is
// decoded in full, as zlib offers no cheaper proof.
Status VerifyImage(const uint8_t* data, size_t size, const DecodeOptions& options = {});

// Reads the file at `path` and decodes it with DecodeImage. NOT_FOUND if it cannot be opened;
// decode errors are prefixed with the path.
StatusOr<Image> ReadImageFile(const std::string& path, const DecodeOptions& options = {});

// Writes `image` (any valid Image, see ValidateImage) as an 8-bit, non-interlaced PNG: gray,
// gray+alpha, RGB or RGBA by its channel count. Overwrites `path`. INVALID_ARGUMENT for an
// invalid image, INTERNAL/NOT_FOUND if the file cannot be written (a partial file is removed).
Status WritePng(const std::string& path, const Image& image);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_IMAGE_IO_H_
