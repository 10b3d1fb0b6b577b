// File: learner/model/pillow_resample_kernels.h
//
// The two passes of Pillow's 8-bit bicubic resampling (Resample.c), internal to
// pillow_resample.cc and its tests: fixed-point weights per output index, a horizontal and a
// vertical pass, each in portable C++ and, on x86-64 CPUs with AVX2, in vector code.
//
// Every kernel computes exactly Pillow's integers: each output is clip8((2^21 + sum of
// pixel * weight) >> 22) in int32, and integer sums do not depend on the order of their terms,
// so the vector kernels' results are identical to the portable ones byte for byte (tested).
#ifndef PERENNIAL_LEARNER_MODEL_PILLOW_RESAMPLE_KERNELS_H_
#define PERENNIAL_LEARNER_MODEL_PILLOW_RESAMPLE_KERNELS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace perennial::resample {

// Pillow: 8 bits for the result, 2 bits of headroom for the filter's negative lobes and
// overshoot, the rest for the fixed-point weights.
constexpr int kPrecisionBits = 32 - 8 - 2;

// The weights of one resampling direction, per output index: the first contributing input index,
// how many contribute, and their fixed-point weights (ksize slots each, zero past count).
struct Coefficients {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box (0, in_size).
Coefficients PrecomputeCoefficients(int in_size, int out_size);

// Rows of 8-bit pixels in memory: row r starts at data + r * stride. Reading stops before `end`
// (one past the last byte the view may touch).
struct RowsView {
  const uint8_t* data;
  size_t stride;
  const uint8_t* end;
};

// Horizontal pass: output columns [x0, x0 + width) of each of `rows` source rows, `channels`
// (1..4) interleaved, into dst (rows x width x channels).
void ResampleHorizontal(RowsView src, int rows, int channels, const Coefficients& coeffs, int x0,
                        int width, uint8_t* dst);

// Vertical pass: output rows [y0, y0 + height) of row_elems bytes each; src row i holds input
// row row_offset + i.
void ResampleVertical(RowsView src, int row_offset, size_t row_elems, const Coefficients& coeffs,
                      int y0, int height, uint8_t* dst);

// True when this build and CPU run the AVX2 kernels below.
bool HaveAvx2();

// The same passes in AVX2 (channels 1, 3 and 4; 2 falls back to the portable pass). Call only
// when HaveAvx2().
void ResampleHorizontalAvx2(RowsView src, int rows, int channels, const Coefficients& coeffs,
                            int x0, int width, uint8_t* dst);
void ResampleVerticalAvx2(RowsView src, int row_offset, size_t row_elems,
                          const Coefficients& coeffs, int y0, int height, uint8_t* dst);

}  // namespace perennial::resample

#endif  // PERENNIAL_LEARNER_MODEL_PILLOW_RESAMPLE_KERNELS_H_
