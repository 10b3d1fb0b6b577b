#include "learner/model/jpeg_codec.h"

#include <turbojpeg.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace perennial {
namespace {

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

// Accurate integer IDCT and fancy upsampling are TurboJPEG's defaults (and Pillow's). Warnings
// (truncated or corrupt data) stop decoding; the scan limit guards against progressive JPEGs
// crafted to take unbounded time.
constexpr int kDecodeFlags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;

// What DecodeJpeg needs from the header, checked.
struct JpegHeader {
  int width = 0;
  int height = 0;
  bool gray = false;
};

StatusOr<TjHandle> NewDecompressor() {
  TjHandle handle(tjInitDecompress());
  if (handle == nullptr) {
    return InternalError(std::string("tjInitDecompress: ") + tjGetErrorStr2(nullptr));
  }
  return handle;
}

// Rejects what no decode can accept: a corrupt header, a size beyond `max_pixels`, an
// unsupported colour space. TurboJPEG's header call also rejects chroma subsampling it cannot
// classify, so every header that passes names a layout the full-size decoder can upsample.
StatusOr<JpegHeader> ReadHeader(void* handle, const uint8_t* data, size_t size,
                                int64_t max_pixels) {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &width, &height,
                          &subsampling, &colorspace) != 0) {
    return InvalidArgumentError(std::string("corrupt JPEG header: ") + tjGetErrorStr2(handle));
  }
  if (width <= 0 || height <= 0) {
    return InvalidArgumentError("corrupt JPEG: invalid size " + std::to_string(width) + "x" +
                                std::to_string(height));
  }
  const int64_t pixel_count = int64_t{width} * height;
  if (pixel_count > max_pixels) {
    return ResourceExhaustedError("JPEG of " + std::to_string(width) + "x" +
                                  std::to_string(height) + " = " + std::to_string(pixel_count) +
                                  " pixels exceeds the limit of " + std::to_string(max_pixels));
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    return InvalidArgumentError("CMYK/YCCK JPEGs are not supported; convert to RGB");
  }
  return JpegHeader{width, height, colorspace == TJCS_GRAY};
}

// Decodes the whole file into `pixels` ([height][width][1 or 3], sized by the caller): TurboJPEG
// scales by the largest factor that fits width x height.
Status Decompress(void* handle, const uint8_t* data, size_t size, bool gray, int width, int height,
                  uint8_t* pixels) {
  if (tjDecompress2(handle, data, static_cast<unsigned long>(size), pixels, width, /*pitch=*/0,
                    height, gray ? TJPF_GRAY : TJPF_RGB, kDecodeFlags) != 0) {
    return InvalidArgumentError(std::string("corrupt or truncated JPEG: ") +
                                tjGetErrorStr2(handle));
  }
  return OkStatus();
}

// Pillow's Image.draft rule: the largest reduction of 8, 4 or 2 that keeps the shorter side at
// least `min_side` (1 when none does, or when min_side <= 0).
int DraftDenominator(const JpegHeader& header, int min_side) {
  if (min_side <= 0) return 1;
  const int reduction = std::min(header.width, header.height) / min_side;
  for (int denominator : {8, 4, 2}) {
    if (reduction >= denominator) return denominator;
  }
  return 1;
}

}  // namespace

StatusOr<Image> DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels,
                           int draft_min_side) {
  StatusOr<TjHandle> handle = NewDecompressor();
  if (!handle.ok()) return handle.status();
  StatusOr<JpegHeader> header = ReadHeader(handle->get(), data, size, max_pixels);
  if (!header.ok()) return header.status();
  // libjpeg scales in its inverse DCT, so a reduced decode skips most of the pixel work (the
  // entropy decoding of every coefficient remains); TJSCALED rounds up, as Pillow does.
  const tjscalingfactor scale = {1, DraftDenominator(*header, draft_min_side)};
  Image image;
  image.height = TJSCALED(header->height, scale);
  image.width = TJSCALED(header->width, scale);
  image.channels = header->gray ? 1 : 3;
  image.pixels.resize(static_cast<size_t>(image.height) * image.width * image.channels);
  Status decoded = Decompress(handle->get(), data, size, header->gray, image.width, image.height,
                              image.pixels.data());
  if (!decoded.ok()) return decoded;
  return image;
}

Status VerifyJpeg(const uint8_t* data, size_t size, int64_t max_pixels) {
  StatusOr<TjHandle> handle = NewDecompressor();
  if (!handle.ok()) return handle.status();
  StatusOr<JpegHeader> header = ReadHeader(handle->get(), data, size, max_pixels);
  if (!header.ok()) return header.status();
  // At 1/8 scale libjpeg still Huffman-decodes every coefficient of every scan (where corrupt
  // or truncated data shows, as a warning that stops decoding), but its inverse DCT reads only
  // the DC term and the colour conversion sees 1/64 of the pixels.
  const tjscalingfactor eighth = {1, 8};
  const int width = TJSCALED(header->width, eighth);
  const int height = TJSCALED(header->height, eighth);
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * (header->gray ? 1 : 3));
  return Decompress(handle->get(), data, size, header->gray, width, height, pixels.data());
}

}  // namespace perennial
