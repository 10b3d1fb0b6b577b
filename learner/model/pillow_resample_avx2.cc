// AVX2 versions of the resampling passes (pillow_resample_kernels.h). Compiled for AVX2 per
// function (target attribute), not with a global flag, and called only when the CPU has it.
//
// The horizontal pass multiplies two taps of a pixel's channels per instruction: a tap's
// channels widen to int32 lanes [c0 c1 c2 c3], two taps side by side in 8 lanes, each times its
// weight. Gray images take 8 taps per instruction. The vertical pass runs along the row: 8
// samples of a row times one weight per instruction.
#include "learner/model/pillow_resample_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PERENNIAL_RESAMPLE_AVX2 1
#else
#define PERENNIAL_RESAMPLE_AVX2 0
#endif

#include <algorithm>

namespace perennial::resample {

#if PERENNIAL_RESAMPLE_AVX2
namespace {

#define PERENNIAL_AVX2 __attribute__((target("avx2")))

constexpr int32_t kRound = 1 << (kPrecisionBits - 1);

uint8_t Clip8(int32_t value) {
  return static_cast<uint8_t>(std::clamp(value >> kPrecisionBits, 0, 255));
}

// Lanes 0..3 plus lanes 4..7.
PERENNIAL_AVX2 __m128i FoldHalves(__m256i v) {
  return _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

// One output pixel of 3 or 4 channels: the sum over its n taps starting at `p` (kChannels bytes
// apart), the first `paired` (even) of them two per step. A 3-channel step reads 2 bytes past
// its taps: the caller pairs only taps that have them.
template <int kChannels>
PERENNIAL_AVX2 void PixelTaps(const uint8_t* p, const int32_t* w, int n, int paired, uint8_t* out) {
  // The 8 bytes at p as two taps' channels [c0 c1 c2 _ | c0 c1 c2 _] (_ = 0) or, for 4
  // channels, as they are.
  const __m128i spread =
      kChannels == 3 ? _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1)
                     : _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i pair_index = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  __m256i sum = _mm256_setzero_si256();
  int x = 0;
  for (; x < paired; x += 2) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + x * kChannels));
    const __m256i taps = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(bytes, spread));
    const __m256i weights = _mm256_permutevar8x32_epi32(
        _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + x))),
        pair_index);
    sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(taps, weights));
  }
  alignas(16) int32_t s[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(s), FoldHalves(sum));
  for (; x < n; ++x) {
    for (int c = 0; c < kChannels; ++c) s[c] += p[x * kChannels + c] * w[x];
  }
  for (int c = 0; c < kChannels; ++c) out[c] = Clip8(kRound + s[c]);
}

// One output pixel of a gray image: 8 taps per step.
PERENNIAL_AVX2 uint8_t GrayTaps(const uint8_t* p, const int32_t* w, int n) {
  __m256i sum = _mm256_setzero_si256();
  int x = 0;
  for (; x + 8 <= n; x += 8) {
    const __m256i taps =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + x)));
    const __m256i weights = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + x));
    sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(taps, weights));
  }
  __m128i folded = FoldHalves(sum);
  folded = _mm_add_epi32(folded, _mm_shuffle_epi32(folded, _MM_SHUFFLE(1, 0, 3, 2)));
  folded = _mm_add_epi32(folded, _mm_shuffle_epi32(folded, _MM_SHUFFLE(2, 3, 0, 1)));
  int32_t s = _mm_cvtsi128_si32(folded);
  for (; x < n; ++x) s += p[x] * w[x];
  return Clip8(kRound + s);
}

template <int kChannels>
PERENNIAL_AVX2 void Horizontal(RowsView src, int rows, const Coefficients& coeffs, int x0,
                               int width, uint8_t* dst) {
  // A 3-channel step reads 2 bytes past its last tap: the taps of pixels that end closer to the
  // end of the buffer than that are summed one at a time.
  constexpr int kSlack = kChannels == 3 ? 2 : 0;
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = src.data + y * src.stride;
    uint8_t* out = dst + static_cast<size_t>(y) * width * kChannels;
    for (int xx = 0; xx < width; ++xx) {
      const int32_t* w = &coeffs.weights[static_cast<size_t>(x0 + xx) * coeffs.ksize];
      const uint8_t* p = in + static_cast<size_t>(coeffs.first[x0 + xx]) * kChannels;
      const int n = coeffs.count[x0 + xx];
      if constexpr (kChannels == 1) {
        out[xx] = GrayTaps(p, w, n);
      } else {
        const int paired = p + n * kChannels + kSlack <= src.end ? n & ~1 : 0;
        PixelTaps<kChannels>(p, w, n, paired, out + xx * kChannels);
      }
    }
  }
}

// Clip8 of 8 int32 sums, stored as 8 bytes.
PERENNIAL_AVX2 void StoreClipped8(__m256i sums, uint8_t* out) {
  const __m256i shifted = _mm256_srai_epi32(sums, kPrecisionBits);
  const __m128i words =
      _mm_packs_epi32(_mm256_castsi256_si128(shifted), _mm256_extracti128_si256(shifted, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(words, words));
}

}  // namespace

bool HaveAvx2() { return __builtin_cpu_supports("avx2"); }

PERENNIAL_AVX2 void ResampleHorizontalAvx2(RowsView src, int rows, int channels,
                                           const Coefficients& coeffs, int x0, int width,
                                           uint8_t* dst) {
  switch (channels) {
    case 1: return Horizontal<1>(src, rows, coeffs, x0, width, dst);
    case 3: return Horizontal<3>(src, rows, coeffs, x0, width, dst);
    case 4: return Horizontal<4>(src, rows, coeffs, x0, width, dst);
    default: return ResampleHorizontal(src, rows, channels, coeffs, x0, width, dst);
  }
}

PERENNIAL_AVX2 void ResampleVerticalAvx2(RowsView src, int row_offset, size_t row_elems,
                                         const Coefficients& coeffs, int y0, int height,
                                         uint8_t* dst) {
  const __m256i round = _mm256_set1_epi32(kRound);
  for (int yy = 0; yy < height; ++yy) {
    const int32_t* w = &coeffs.weights[static_cast<size_t>(y0 + yy) * coeffs.ksize];
    const uint8_t* first = src.data + (coeffs.first[y0 + yy] - row_offset) * src.stride;
    const int n = coeffs.count[y0 + yy];
    uint8_t* out = dst + yy * row_elems;
    size_t i = 0;
    for (; i + 8 <= row_elems; i += 8) {
      __m256i sum = round;
      for (int y = 0; y < n; ++y) {
        const __m256i taps = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(first + y * src.stride + i)));
        sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(taps, _mm256_set1_epi32(w[y])));
      }
      StoreClipped8(sum, out + i);
    }
    for (; i < row_elems; ++i) {
      int32_t sum = kRound;
      for (int y = 0; y < n; ++y) sum += first[y * src.stride + i] * w[y];
      out[i] = Clip8(sum);
    }
  }
}

#undef PERENNIAL_AVX2

#else  // no AVX2 kernels in this build

bool HaveAvx2() { return false; }

void ResampleHorizontalAvx2(RowsView src, int rows, int channels, const Coefficients& coeffs,
                            int x0, int width, uint8_t* dst) {
  ResampleHorizontal(src, rows, channels, coeffs, x0, width, dst);
}

void ResampleVerticalAvx2(RowsView src, int row_offset, size_t row_elems,
                          const Coefficients& coeffs, int y0, int height, uint8_t* dst) {
  ResampleVertical(src, row_offset, row_elems, coeffs, y0, height, dst);
}

#endif

}  // namespace perennial::resample
