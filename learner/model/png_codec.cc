#include "learner/model/png_codec.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

namespace perennial {
namespace {

constexpr size_t kSignatureBytes = 8;
// Signature, IHDR length and type, width, height: what the pixel-count check needs.
constexpr size_t kHeaderBytes = kSignatureBytes + 8 + 8;
// Cap on memory libpng may allocate for one ancillary chunk (zTXt, iCCP, ...).
constexpr png_alloc_size_t kMaxChunkBytes = 8 * 1024 * 1024;

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Everything the libpng callbacks touch. Plain data only: libpng reports errors by longjmp, which
// must not cross frames that own C++ objects, so the functions that call libpng below (the ones
// with setjmp) hold no such objects; buffers are owned by their callers.
struct PngContext {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char error[256] = {};
};

void OnPngError(png_structp png, png_const_charp message) {
  auto* context = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(context->error, sizeof(context->error), "%s", message);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

void ReadFromMemory(png_structp png, png_bytep out, png_size_t count) {
  auto* context = static_cast<PngContext*>(png_get_io_ptr(png));
  if (count > context->size - context->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, context->data + context->pos, count);
  context->pos += count;
}

// The decoded layout after libpng's transforms.
struct PngLayout {
  uint32_t width = 0;
  uint32_t height = 0;
  int channels = 0;  // per row sample: palette rows hold one index byte per pixel
  bool palette = false;
  size_t row_bytes = 0;
  int palette_size = 0;
  uint8_t palette_rgb[256][3] = {};
};

// Reads the chunks before the image data and sets up the transforms to 8-bit samples.
bool ReadPngInfo(PngContext* context, PngLayout* layout) {
  png_structp png = context->png;
  png_infop info = context->info;
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, context, ReadFromMemory);
  png_set_chunk_malloc_max(png, kMaxChunkBytes);
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, nullptr, 0);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  if (bit_depth == 16) png_set_strip_16(png);  // keeps the high byte, as Pillow does
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    // Indices, one byte each, expanded by hand: png_set_palette_to_rgb would add tRNS as alpha.
    png_set_packing(png);
    png_colorp entries = nullptr;
    int count = 0;
    if (png_get_PLTE(png, info, &entries, &count) != PNG_INFO_PLTE || count <= 0) {
      png_error(png, "palette PNG without a PLTE chunk");
    }
    layout->palette_size = count > 256 ? 256 : count;
    for (int i = 0; i < layout->palette_size; ++i) {
      layout->palette_rgb[i][0] = entries[i].red;
      layout->palette_rgb[i][1] = entries[i].green;
      layout->palette_rgb[i][2] = entries[i].blue;
    }
    layout->palette = true;
  } else if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);  // scales 0..2^d-1 to 0..255
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = width;
  layout->height = height;
  layout->channels = png_get_channels(png, info);
  layout->row_bytes = png_get_rowbytes(png, info);
  return true;
}

bool ReadPngRows(PngContext* context, png_bytepp rows) {
  if (setjmp(png_jmpbuf(context->png))) return false;
  png_read_image(context->png, rows);
  return true;
}

Status PngError(const PngContext& context, const char* stage) {
  return InvalidArgumentError(std::string("corrupt PNG (") + stage + "): " + context.error);
}

// Checks the signature and the IHDR dimensions before libpng allocates anything.
Status CheckPngHeader(const uint8_t* data, size_t size, int64_t max_pixels) {
  if (size < kHeaderBytes) {
    return InvalidArgumentError("truncated PNG: " + std::to_string(size) +
                                " bytes, not even a complete IHDR header");
  }
  if (std::memcmp(data + kSignatureBytes + 4, "IHDR", 4) != 0) {
    return InvalidArgumentError("corrupt PNG: the first chunk is not IHDR");
  }
  const int64_t width = ReadBigEndian32(data + 16);
  const int64_t height = ReadBigEndian32(data + 20);
  if (width == 0 || height == 0 || width > PNG_UINT_31_MAX || height > PNG_UINT_31_MAX) {
    return InvalidArgumentError("corrupt PNG: invalid size " + std::to_string(width) + "x" +
                                std::to_string(height));
  }
  if (width * height > max_pixels) {
    return ResourceExhaustedError("PNG of " + std::to_string(width) + "x" + std::to_string(height) +
                                  " = " + std::to_string(width * height) +
                                  " pixels exceeds the limit of " + std::to_string(max_pixels));
  }
  return OkStatus();
}

class PngReadGuard {
 public:
  explicit PngReadGuard(PngContext* context) : context_(context) {}
  ~PngReadGuard() { png_destroy_read_struct(&context_->png, &context_->info, nullptr); }
  PngReadGuard(const PngReadGuard&) = delete;
  PngReadGuard& operator=(const PngReadGuard&) = delete;

 private:
  PngContext* context_;
};

void ExpandPalette(const PngLayout& layout, const std::vector<uint8_t>& indices, Image* image) {
  uint8_t* out = image->pixels.data();
  for (uint8_t index : indices) {
    if (index < layout.palette_size) {
      std::memcpy(out, layout.palette_rgb[index], 3);
    } else {
      std::memset(out, 0, 3);
    }
    out += 3;
  }
}

}  // namespace

StatusOr<Image> DecodePng(const uint8_t* data, size_t size, int64_t max_pixels) {
  PERENNIAL_RETURN_IF_ERROR(CheckPngHeader(data, size, max_pixels));
  PngContext context;
  context.data = data;
  context.size = size;
  context.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, OnPngError, OnPngWarning);
  if (context.png == nullptr) return InternalError("png_create_read_struct failed");
  PngReadGuard guard(&context);
  context.info = png_create_info_struct(context.png);
  if (context.info == nullptr) return InternalError("png_create_info_struct failed");

  PngLayout layout;
  if (!ReadPngInfo(&context, &layout)) return PngError(context, "header");
  const int channels = layout.palette ? 3 : layout.channels;
  if (layout.row_bytes != size_t{layout.width} * layout.channels || channels < 1 || channels > 4) {
    return InternalError("unexpected PNG row layout after transforms");
  }

  Image image;
  image.height = static_cast<int>(layout.height);
  image.width = static_cast<int>(layout.width);
  image.channels = channels;
  image.pixels.resize(size_t{layout.height} * layout.width * channels);
  std::vector<uint8_t> indices;
  uint8_t* target = image.pixels.data();
  if (layout.palette) {
    indices.resize(size_t{layout.height} * layout.width);
    target = indices.data();
  }
  std::vector<png_bytep> rows(layout.height);
  for (uint32_t y = 0; y < layout.height; ++y) rows[y] = target + y * layout.row_bytes;
  if (!ReadPngRows(&context, rows.data())) return PngError(context, "image data");
  if (layout.palette) ExpandPalette(layout, indices, &image);
  return image;
}

namespace {

struct PngWriteContext {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char error[256] = {};
};

void OnPngWriteError(png_structp png, png_const_charp message) {
  auto* context = static_cast<PngWriteContext*>(png_get_error_ptr(png));
  std::snprintf(context->error, sizeof(context->error), "%s", message);
  png_longjmp(png, 1);
}

bool WritePngRows(PngWriteContext* context, FILE* file, int width, int height, int channels,
                  png_bytepp rows) {
  if (setjmp(png_jmpbuf(context->png))) return false;
  static const int kColorTypes[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                    PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_init_io(context->png, file);
  png_set_IHDR(context->png, context->info, width, height, 8, kColorTypes[channels - 1],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(context->png, context->info);
  png_write_image(context->png, rows);
  png_write_end(context->png, nullptr);
  return true;
}

}  // namespace

Status WritePngFile(const std::string& path, const Image& image) {
  PERENNIAL_RETURN_IF_ERROR(ValidateImage(image));
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return NotFoundError("cannot open " + path + " for writing");
  PngWriteContext context;
  context.png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, OnPngWriteError, OnPngWarning);
  if (context.png != nullptr) context.info = png_create_info_struct(context.png);
  bool ok = context.png != nullptr && context.info != nullptr;
  if (ok) {
    const size_t row_bytes = static_cast<size_t>(image.width) * image.channels;
    std::vector<png_bytep> rows(image.height);
    for (int y = 0; y < image.height; ++y) {
      rows[y] = const_cast<png_bytep>(image.pixels.data() + y * row_bytes);
    }
    ok = WritePngRows(&context, file, image.width, image.height, image.channels, rows.data());
  }
  png_destroy_write_struct(&context.png, &context.info);
  ok = (std::fclose(file) == 0) && ok;
  if (!ok) {
    std::remove(path.c_str());
    return InternalError("writing PNG " + path +
                         " failed: " + (context.error[0] ? context.error : "I/O error"));
  }
  return OkStatus();
}

}  // namespace perennial
