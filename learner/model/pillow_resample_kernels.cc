#include "learner/model/pillow_resample_kernels.h"

#include <algorithm>
#include <cmath>

namespace perennial::resample {
namespace {

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

// Horizontal pass: output columns [x0, x0 + width) for each of `rows` source rows. All channels
// of a pixel accumulate in one sweep over its taps (as Pillow does), with a compile-time channel
// count so that the sums stay in registers: the pass is most of a photo's preprocessing.
template <int kChannels>
void ResampleHorizontalFixed(RowsView src, int rows, const Coefficients& coeffs, int x0, int width,
                             uint8_t* dst) {
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

}  // namespace

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

void ResampleHorizontal(RowsView src, int rows, int channels, const Coefficients& coeffs, int x0,
                        int width, uint8_t* dst) {
  switch (channels) {
    case 1: return ResampleHorizontalFixed<1>(src, rows, coeffs, x0, width, dst);
    case 2: return ResampleHorizontalFixed<2>(src, rows, coeffs, x0, width, dst);
    case 3: return ResampleHorizontalFixed<3>(src, rows, coeffs, x0, width, dst);
    default: return ResampleHorizontalFixed<4>(src, rows, coeffs, x0, width, dst);
  }
}

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

}  // namespace perennial::resample
