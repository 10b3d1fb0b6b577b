#include "learner/model/pillow_resample.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace perennial {
namespace {

// Pillow: 8 bits for the result, 2 bits of headroom for the filter's negative lobes and
// overshoot, the rest for the fixed-point weights.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

uint8_t Clip8(int32_t value) {
  const int32_t shifted = value >> kPrecisionBits;  // arithmetic shift, as in Pillow
  return static_cast<uint8_t>(std::min(255, std::max(0, shifted)));
}

// Pillow's MULDIV255: round(a * b / 255) in integers.
uint8_t MulDiv255(uint32_t a, uint32_t b) {
  const uint32_t t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// The weights of one resampling direction, per output index: the first contributing input index,
// how many contribute, and their fixed-point weights (ksize slots each).
struct Coefficients {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box (0, in_size).
Coefficients PrecomputeCoefficients(int in_size, int out_size) {
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = kBicubicSupport * filter_scale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  const double inv_filter_scale = 1.0 / filter_scale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const int xmin = std::max(0, static_cast<int>(center - support + 0.5));
    const int xmax = std::min(in_size, static_cast<int>(center + support + 0.5)) - xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = BicubicFilter((x + xmin - center + 0.5) * inv_filter_scale);
      sum += k[x];
    }
    int32_t* w = &c.weights[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double normalized = sum != 0.0 ? k[x] / sum : k[x];
      const double fixed = normalized * (1 << kPrecisionBits);
      w[x] = static_cast<int32_t>(normalized < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    c.first[xx] = xmin;
    c.count[xx] = std::max(0, xmax);
  }
  return c;
}

// Rows of 8-bit pixels in memory: row r starts at data + r * stride.
struct RowsView {
  const uint8_t* data;
  size_t stride;
};

// Horizontal pass: output columns [x0, x0 + width) for each of `rows` source rows. All channels
// of a pixel accumulate in one sweep over its taps (as Pillow does), with a compile-time channel
// count so that the sums stay in registers: the pass is most of a photo's preprocessing.
template <int kChannels>
void ResampleHorizontalFixed(RowsView src, int rows, const Coefficients& coeffs, int x0,
                             int width, uint8_t* dst) {
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = src.data + y * src.stride;
    uint8_t* out = dst + static_cast<size_t>(y) * width * kChannels;
    for (int xx = 0; xx < width; ++xx) {
      const int32_t* w = &coeffs.weights[static_cast<size_t>(x0 + xx) * coeffs.ksize];
      const uint8_t* base = in + static_cast<size_t>(coeffs.first[x0 + xx]) * kChannels;
      const int n = coeffs.count[x0 + xx];
      // Named sums, not an array: GCC kept an array's sums in memory.
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0, s3 = s0;
      for (int x = 0; x < n; ++x) {
        const uint8_t* p = base + x * kChannels;
        const int32_t wx = w[x];
        s0 += p[0] * wx;
        if constexpr (kChannels > 1) s1 += p[1] * wx;
        if constexpr (kChannels > 2) s2 += p[2] * wx;
        if constexpr (kChannels > 3) s3 += p[3] * wx;
      }
      uint8_t* o = out + xx * kChannels;
      o[0] = Clip8(s0);
      if constexpr (kChannels > 1) o[1] = Clip8(s1);
      if constexpr (kChannels > 2) o[2] = Clip8(s2);
      if constexpr (kChannels > 3) o[3] = Clip8(s3);
    }
  }
}

void ResampleHorizontal(RowsView src, int rows, int channels, const Coefficients& coeffs, int x0,
                        int width, uint8_t* dst) {
  switch (channels) {
    case 1: return ResampleHorizontalFixed<1>(src, rows, coeffs, x0, width, dst);
    case 2: return ResampleHorizontalFixed<2>(src, rows, coeffs, x0, width, dst);
    case 3: return ResampleHorizontalFixed<3>(src, rows, coeffs, x0, width, dst);
    default: return ResampleHorizontalFixed<4>(src, rows, coeffs, x0, width, dst);
  }
}

// Vertical pass: output rows [y0, y0 + height); src row i holds input row row_offset + i.
void ResampleVertical(RowsView src, int row_offset, size_t row_elems, const Coefficients& coeffs,
                      int y0, int height, uint8_t* dst) {
  std::vector<int32_t> sums(row_elems);
  for (int yy = 0; yy < height; ++yy) {
    const int32_t* w = &coeffs.weights[static_cast<size_t>(y0 + yy) * coeffs.ksize];
    const int first = coeffs.first[y0 + yy] - row_offset;
    std::fill(sums.begin(), sums.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < coeffs.count[y0 + yy]; ++y) {
      const uint8_t* in = src.data + (first + y) * src.stride;
      for (size_t i = 0; i < row_elems; ++i) sums[i] += in[i] * w[y];
    }
    uint8_t* out = dst + yy * row_elems;
    for (size_t i = 0; i < row_elems; ++i) out[i] = Clip8(sums[i]);
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
  RowsView source{image.pixels.data() + row_begin * in_stride, in_stride};
  if (has_alpha) {
    premultiplied = Premultiply(source.data, static_cast<size_t>(rows) * image.width, channels);
    source.data = premultiplied.data();
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
    ResampleHorizontal(source, rows, channels, horizontal, x0, window_width, target);
    source = RowsView{horizontal_rows.data(), window_row_elems};
  } else {
    source.data += static_cast<size_t>(x0) * channels;  // the window's columns, unresampled
  }
  if (need_vertical) {
    ResampleVertical(source, row_begin, window_row_elems, vertical, y0, window_height,
                     out.pixels.data());
  }
  if (has_alpha) Unpremultiply(&out);
  return out;
}

}  // namespace perennial
