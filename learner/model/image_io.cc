#include "learner/model/image_io.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "learner/model/jpeg_codec.h"
#include "learner/model/png_codec.h"

namespace perennial {
namespace {

constexpr uint8_t kPngMagic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr uint8_t kJpegMagic[] = {0xFF, 0xD8, 0xFF};

bool StartsWith(const uint8_t* data, size_t size, const uint8_t* magic, size_t magic_size) {
  return size >= magic_size && std::memcmp(data, magic, magic_size) == 0;
}

std::string HexPrefix(const uint8_t* data, size_t size) {
  std::string hex;
  char byte[4];
  for (size_t i = 0; i < size && i < 8; ++i) {
    std::snprintf(byte, sizeof(byte), "%02x", data[i]);
    hex += byte;
  }
  return hex;
}

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

enum class Format { kPng, kJpeg };

// The format of `data` by its magic bytes, after the checks every decode starts with.
StatusOr<Format> Classify(const uint8_t* data, size_t size, const DecodeOptions& options) {
  if (data == nullptr || size == 0) return InvalidArgumentError("empty image data");
  if (static_cast<uint64_t>(size) > static_cast<uint64_t>(options.max_encoded_bytes)) {
    return ResourceExhaustedError("encoded image of " + std::to_string(size) +
                                  " bytes exceeds the limit of " +
                                  std::to_string(options.max_encoded_bytes));
  }
  if (StartsWith(data, size, kPngMagic, sizeof(kPngMagic))) return Format::kPng;
  if (StartsWith(data, size, kJpegMagic, sizeof(kJpegMagic))) return Format::kJpeg;
  return InvalidArgumentError("unknown image format (expected PNG or JPEG), first bytes: " +
                              HexPrefix(data, size));
}

}  // namespace

StatusOr<Image> DecodeImage(const uint8_t* data, size_t size, const DecodeOptions& options) {
  StatusOr<Format> format = Classify(data, size, options);
  if (!format.ok()) return format.status();
  if (*format == Format::kPng) return DecodePng(data, size, options.max_pixels);
  return DecodeJpeg(data, size, options.max_pixels, options.draft_min_side);
}

Status VerifyImage(const uint8_t* data, size_t size, const DecodeOptions& options) {
  StatusOr<Format> format = Classify(data, size, options);
  if (!format.ok()) return format.status();
  if (*format == Format::kPng) return DecodePng(data, size, options.max_pixels).status();
  return VerifyJpeg(data, size, options.max_pixels);
}

StatusOr<Image> ReadImageFile(const std::string& path, const DecodeOptions& options) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return NotFoundError("cannot open image file " + path);
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof(chunk), file.get())) > 0) {
    if (static_cast<int64_t>(bytes.size() + got) > options.max_encoded_bytes) {
      return ResourceExhaustedError("image file " + path + " exceeds the limit of " +
                                    std::to_string(options.max_encoded_bytes) + " bytes");
    }
    bytes.insert(bytes.end(), chunk, chunk + got);
  }
  if (std::ferror(file.get())) return InternalError("error reading image file " + path);
  auto image = DecodeImage(bytes.data(), bytes.size(), options);
  if (!image.ok()) {
    return Status(image.status().code(), path + ": " + std::string(image.status().message()));
  }
  return image;
}

Status WritePng(const std::string& path, const Image& image) { return WritePngFile(path, image); }

}  // namespace perennial
