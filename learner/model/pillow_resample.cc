#include "learner/model/pillow_resample.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "learner/model/pillow_resample_kernels.h"

namespace perennial {
namespace {

using resample::Coefficients;
using resample::PrecomputeCoefficients;
using resample::RowsView;

// Pillow's MULDIV255: round(a * b / 255) in integers.
uint8_t MulDiv255(uint32_t a, uint32_t b) {
  const uint32_t t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// Checked once: the CPU does not change under a running process.
bool UseAvx2() {
  static const bool avx2 = resample::HaveAvx2();
  return avx2;
}

void HorizontalPass(RowsView src, int rows, int channels, const Coefficients& coeffs, int x0,
                    int width, uint8_t* dst) {
  if (UseAvx2()) {
    resample::ResampleHorizontalAvx2(src, rows, channels, coeffs, x0, width, dst);
  } else {
    resample::ResampleHorizontal(src, rows, channels, coeffs, x0, width, dst);
  }
}

void VerticalPass(RowsView src, int row_offset, size_t row_elems, const Coefficients& coeffs,
                  int y0, int height, uint8_t* dst) {
  if (UseAvx2()) {
    resample::ResampleVerticalAvx2(src, row_offset, row_elems, coeffs, y0, height, dst);
  } else {
    resample::ResampleVertical(src, row_offset, row_elems, coeffs, y0, height, dst);
  }
}

// Pillow's RGBA -> RGBa / LA -> La, for `rows` rows starting at `src`.
std::vector<uint8_t> Premultiply(const uint8_t* src, size_t pixels, int channels) {
  std::vector<uint8_t> out(pixels * channels);
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* in = src + p * channels;
    const uint8_t alpha = in[channels - 1];
    for (int ch = 0; ch + 1 < channels; ++ch) out[p * channels + ch] = MulDiv255(in[ch], alpha);
    out[p * channels + channels - 1] = alpha;
  }
  return out;
}

// Pillow's RGBa -> RGBA / La -> LA.
void Unpremultiply(Image* image) {
  const int channels = image->channels;
  const size_t pixels = static_cast<size_t>(image->height) * image->width;
  for (size_t p = 0; p < pixels; ++p) {
    uint8_t* px = image->pixels.data() + p * channels;
    const int alpha = px[channels - 1];
    if (alpha == 0 || alpha == 255) continue;
    for (int ch = 0; ch + 1 < channels; ++ch) px[ch] = std::min(255, (255 * px[ch]) / alpha);
  }
}

Image CropCopy(const Image& image, int x0, int y0, int width, int height) {
  Image out{height, width, image.channels, {}};
  const size_t row_bytes = static_cast<size_t>(width) * image.channels;
  out.pixels.resize(row_bytes * height);
  for (int y = 0; y < height; ++y) {
    const uint8_t* in =
        image.pixels.data() + (static_cast<size_t>(y0 + y) * image.width + x0) * image.channels;
    std::memcpy(out.pixels.data() + y * row_bytes, in, row_bytes);
  }
  return out;
}

}  // namespace

Image PillowResizeWindow(const Image& image, int out_width, int out_height, int x0, int y0,
                         int window_width, int window_height) {
  // Pillow returns a plain copy for an unchanged size (no premultiply round trip).
  if (out_width == image.width && out_height == image.height) {
    return CropCopy(image, x0, y0, window_width, window_height);
  }
  const int channels = image.channels;
  const bool has_alpha = channels == 2 || channels == 4;
  const bool need_horizontal = out_width != image.width;
  const bool need_vertical = out_height != image.height;
  const size_t in_stride = static_cast<size_t>(image.width) * channels;

  // Source rows the output window needs: [row_begin, row_end).
  Coefficients vertical;
  int row_begin = y0, row_end = y0 + window_height;
  if (need_vertical) {
    vertical = PrecomputeCoefficients(image.height, out_height);
    row_begin = vertical.first[y0];
    row_end = row_begin;
    for (int yy = y0; yy < y0 + window_height; ++yy) {
      row_end = std::max(row_end, vertical.first[yy] + vertical.count[yy]);
    }
  }
  const int rows = row_end - row_begin;

  std::vector<uint8_t> premultiplied;
  RowsView source{image.pixels.data() + row_begin * in_stride, in_stride,
                  image.pixels.data() + image.pixels.size()};
  if (has_alpha) {
    premultiplied = Premultiply(source.data, static_cast<size_t>(rows) * image.width, channels);
    source.data = premultiplied.data();
    source.end = premultiplied.data() + premultiplied.size();
  }

  Image out{window_height, window_width, channels, {}};
  const size_t window_row_elems = static_cast<size_t>(window_width) * channels;
  out.pixels.resize(window_row_elems * window_height);
  std::vector<uint8_t> horizontal_rows;
  if (need_horizontal) {
    const Coefficients horizontal = PrecomputeCoefficients(image.width, out_width);
    uint8_t* target = out.pixels.data();
    if (need_vertical) {
      horizontal_rows.resize(window_row_elems * rows);
      target = horizontal_rows.data();
    }
    HorizontalPass(source, rows, channels, horizontal, x0, window_width, target);
    source = RowsView{horizontal_rows.data(), window_row_elems,
                      horizontal_rows.data() + horizontal_rows.size()};
  } else {
    source.data += static_cast<size_t>(x0) * channels;  // the window's columns, unresampled
  }
  if (need_vertical) {
    VerticalPass(source, row_begin, window_row_elems, vertical, y0, window_height,
                 out.pixels.data());
  }
  if (has_alpha) Unpremultiply(&out);
  return out;
}

}  // namespace perennial
