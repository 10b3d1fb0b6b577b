#include "learner/model/jpeg_codec.h"

#include <turbojpeg.h>

#include <memory>
#include <string>

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

}  // namespace

StatusOr<Image> DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels) {
  TjHandle handle(tjInitDecompress());
  if (handle == nullptr) {
    return InternalError(std::string("tjInitDecompress: ") + tjGetErrorStr2(nullptr));
  }
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, static_cast<unsigned long>(size), &width, &height,
                          &subsampling, &colorspace) != 0) {
    return InvalidArgumentError(std::string("corrupt JPEG header: ") +
                                tjGetErrorStr2(handle.get()));
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
  const bool gray = colorspace == TJCS_GRAY;
  Image image;
  image.height = height;
  image.width = width;
  image.channels = gray ? 1 : 3;
  image.pixels.resize(static_cast<size_t>(pixel_count) * image.channels);
  if (tjDecompress2(handle.get(), data, static_cast<unsigned long>(size), image.pixels.data(),
                    width, /*pitch=*/0, height, gray ? TJPF_GRAY : TJPF_RGB, kDecodeFlags) != 0) {
    return InvalidArgumentError(std::string("corrupt or truncated JPEG: ") +
                                tjGetErrorStr2(handle.get()));
  }
  return image;
}

}  // namespace perennial
