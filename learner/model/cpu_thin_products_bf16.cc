// File: learner/model/cpu_thin_products_bf16.cc
//
// CpuThinPass for bf16 m with AVX-512 BF16 dot products (vdpbf16ps: each fp32 lane adds the
// products of one pair of bf16 values), one product at a time:
//   - mb = s m B: a lane pairs two adjacent columns. Broadcasting m's four elements c..c+3 as
//     one 64-bit value puts the pair (c, c+1) in the even lanes and (c+2, c+3) in the odd ones;
//     B's quad vector holds rank r's pairs in lanes 2r and 2r + 1, so one instruction takes four
//     columns' 8 products, summed across lanes 2r, 2r + 1 once per row.
//   - mt = s m^T t: a lane pairs two adjacent rows. Rows n and n + 1 interleaved give each
//     column's pair; one permute spreads two columns' pairs over 8 lanes each, and one
//     instruction with t's interleaved rows (rank r in lane 8j + r) adds both rows' products for
//     two columns: the accumulators are mt's [cols, 8] rows as they are stored.
// s is applied to the fp32 sums, so that no bf16 input is rounded again.
#include "learner/model/cpu_thin_products_bf16.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "learner/model/cpu_thin_rows.h"

#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 10
#include <immintrin.h>
#define PERENNIAL_THIN_BF16 1
#else
#define PERENNIAL_THIN_BF16 0
#endif

namespace perennial {

#if PERENNIAL_THIN_BF16
namespace {

#define PERENNIAL_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

constexpr int64_t kRank = 8;
constexpr int kMbBlockRows = 8;
constexpr int kMtBlockPairs = 4;  // row pairs that share each mt accumulator load and store
constexpr __mmask16 kAllLanes = 0xFFFF;

uint16_t Bits(c10::BFloat16 x) { return x.x; }

// B [cols, 8] as cols / 4 vectors of 32 bf16: element 2 (2r + j) + e is B[c + 2j + e][r].
std::vector<uint16_t> ToQuadLayout(const torch::Tensor& b) {
  const torch::Tensor m = b.to(torch::kBFloat16).contiguous();
  const int64_t cols = m.size(0);
  const c10::BFloat16* src = m.data_ptr<c10::BFloat16>();
  std::vector<uint16_t> quads(static_cast<size_t>(cols * kRank));
  for (int64_t c = 0; c < cols; c += 4) {
    for (int64_t r = 0; r < kRank; ++r) {
      for (int64_t j = 0; j < 2; ++j) {
        for (int64_t e = 0; e < 2; ++e) {
          quads[c * kRank + 2 * (2 * r + j) + e] = Bits(src[(c + 2 * j + e) * kRank + r]);
        }
      }
    }
  }
  return quads;
}

// [low, high]. Masked inserts: GCC 12's unmasked ones (and its zero-extending casts, built on
// them) fill from _mm512_undefined_*(), which its own -Wuninitialized flags (GCC bug 105593).
PERENNIAL_AVX512_BF16 inline __m512i Concat(__m256i low, __m256i high) {
  const __m512i zero = _mm512_setzero_si512();
  return _mm512_maskz_inserti64x4(0xFF, _mm512_maskz_inserti64x4(0xFF, zero, low, 0), high, 1);
}

PERENNIAL_AVX512_BF16 inline __m512 Dot(__m512 sums, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(sums, (__m512bh)a, (__m512bh)b);
}

template <int kRows>
PERENNIAL_AVX512_BF16 void MbBlock(const c10::BFloat16* m, int64_t row_stride, int64_t cols,
                                   const uint16_t* quads, float scale, c10::BFloat16* mb) {
  __m512 sums[kRows];
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i) sums[i] = _mm512_setzero_ps();
  for (int64_t c = 0; c < cols; c += 4) {
    const __m512i quad = _mm512_loadu_si512(quads + c * kRank);
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) {
      int64_t four;
      std::memcpy(&four, m + i * row_stride + c, sizeof four);
      sums[i] = Dot(sums[i], _mm512_set1_epi64(four), quad);
    }
  }
  const __m512i even = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 15, 13, 11, 9, 7, 5, 3, 1);
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i) {
    const __m512 folded = _mm512_add_ps(_mm512_maskz_permutexvar_ps(kAllLanes, even, sums[i]),
                                        _mm512_maskz_permutexvar_ps(kAllLanes, odd, sums[i]));
    float out[16];
    _mm512_storeu_ps(out, _mm512_mul_ps(folded, _mm512_set1_ps(scale)));
    for (int64_t r = 0; r < kRank; ++r) mb[i * kRank + r] = c10::BFloat16(out[r]);
  }
}

PERENNIAL_AVX512_BF16 void MbRows(const c10::BFloat16* m, int64_t row_stride, int64_t cols,
                                  const uint16_t* quads, float scale, c10::BFloat16* mb,
                                  int64_t begin, int64_t end) {
  int64_t row = begin;
  for (; row + kMbBlockRows <= end; row += kMbBlockRows) {
    MbBlock<kMbBlockRows>(m + row * row_stride, row_stride, cols, quads, scale, mb + row * kRank);
  }
  for (; row < end; ++row) {
    MbBlock<1>(m + row * row_stride, row_stride, cols, quads, scale, mb + row * kRank);
  }
}

// Rows n and n + 1 (`next` null: zeros) interleaved, 16 columns from c: the 32-bit lane of
// column c + k holds (m[n][c + k], m[n + 1][c + k]); kColumnLane says which lane that is.
PERENNIAL_AVX512_BF16 inline __m512i InterleavedRows(const c10::BFloat16* row,
                                                     const c10::BFloat16* next) {
  const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row));
  const __m256i second = next != nullptr
                             ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(next))
                             : _mm256_setzero_si256();
  // unpack works within 128-bit halves: lo holds columns 0-3 and 8-11, hi 4-7 and 12-15.
  const __m256i lo = _mm256_unpacklo_epi16(first, second);
  const __m256i hi = _mm256_unpackhi_epi16(first, second);
  return Concat(lo, hi);
}

// The lane InterleavedRows puts column k (0..15) in.
constexpr int kColumnLane[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};

// t's rows n and n + 1 interleaved, rank r's pair in lanes r and 8 + r.
PERENNIAL_AVX512_BF16 inline __m512i InterleavedT(const c10::BFloat16* t, bool has_next) {
  const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t));
  const __m128i second =
      has_next ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + kRank)) : _mm_setzero_si128();
  const __m256i pairs =
      _mm256_inserti128_si256(_mm256_zextsi128_si256(_mm_unpacklo_epi16(first, second)),
                              _mm_unpackhi_epi16(first, second), 1);
  return Concat(pairs, pairs);
}

// mt += m^T t over rows [row, row + 2 kPairs) (the last pair may lack its second row: `rows`
// is where m ends), columns [0, cols) in chunks of 16; mt: [cols, 8] fp32.
template <int kPairs>
PERENNIAL_AVX512_BF16 void MtBlock(const c10::BFloat16* m, int64_t row_stride, int64_t cols,
                                   const c10::BFloat16* t, int64_t row, int64_t rows, float* mt) {
  __m512i t_pairs[kPairs];
  bool full[kPairs];
#pragma GCC unroll 4
  for (int p = 0; p < kPairs; ++p) {
    full[p] = row + 2 * p + 1 < rows;
    t_pairs[p] = InterleavedT(t + (row + 2 * p) * kRank, full[p]);
  }
  for (int64_t c = 0; c < cols; c += 16) {
    __m512i columns[kPairs];
#pragma GCC unroll 4
    for (int p = 0; p < kPairs; ++p) {
      const c10::BFloat16* first = m + (row + 2 * p) * row_stride + c;
      columns[p] = InterleavedRows(first, full[p] ? first + row_stride : nullptr);
    }
#pragma GCC unroll 8
    for (int k = 0; k < 16; k += 2) {
      const __m512i spread = _mm512_set_epi32(
          kColumnLane[k + 1], kColumnLane[k + 1], kColumnLane[k + 1], kColumnLane[k + 1],
          kColumnLane[k + 1], kColumnLane[k + 1], kColumnLane[k + 1], kColumnLane[k + 1],
          kColumnLane[k], kColumnLane[k], kColumnLane[k], kColumnLane[k], kColumnLane[k],
          kColumnLane[k], kColumnLane[k], kColumnLane[k]);
      float* out = mt + (c + k) * kRank;
      __m512 sums = _mm512_loadu_ps(out);
#pragma GCC unroll 4
      for (int p = 0; p < kPairs; ++p) {
        sums = Dot(sums, _mm512_maskz_permutexvar_epi32(kAllLanes, spread, columns[p]), t_pairs[p]);
      }
      _mm512_storeu_ps(out, sums);
    }
  }
}

PERENNIAL_AVX512_BF16 void MtRows(const c10::BFloat16* m, int64_t row_stride, int64_t cols,
                                  const c10::BFloat16* t, int64_t begin, int64_t end, float* mt) {
  int64_t row = begin;
  for (; row + 2 * kMtBlockPairs <= end; row += 2 * kMtBlockPairs) {
    MtBlock<kMtBlockPairs>(m, row_stride, cols, t, row, end, mt);
  }
  for (; row < end; row += 2) MtBlock<1>(m, row_stride, cols, t, row, end, mt);
}

}  // namespace
#endif  // PERENNIAL_THIN_BF16

bool CpuHasBf16ThinPass() {
#if PERENNIAL_THIN_BF16
  // AMD only, where it was measured faster than oneDNN: on this AMD EPYC (Debian's machines)
  // 1.2-2.1x oneDNN's bf16 products, on the Intel Cooper Lake host of the GPU machine (PyTorch
  // 2.11's oneDNN) 0.56-1.16x (session 26, bench/README.md). Intel CPUs with AMX would give
  // oneDNN tile products this pass cannot match.
  static const bool have = __builtin_cpu_is("amd") && __builtin_cpu_supports("avx512bf16") &&
                           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f");
  return have;
#else
  return false;
#endif
}

CpuThinProducts RunBf16ThinPass(const torch::Tensor& m, const torch::Tensor& b,
                                const torch::Tensor& t, double scale) {
  CpuThinProducts out;
#if PERENNIAL_THIN_BF16
  const int64_t rows = m.size(0), cols = m.size(1);
  const auto* data = m.data_ptr<c10::BFloat16>();
  const int64_t row_stride = m.stride(0), parts = thin_rows::Parts(rows);
  const auto s = static_cast<float>(scale);
  if (b.defined()) {
    const std::vector<uint16_t> quads = ToQuadLayout(b);
    out.mb = torch::empty({rows, kRank}, m.options());
    c10::BFloat16* mb = out.mb.data_ptr<c10::BFloat16>();
    thin_rows::ForEachPart(rows, parts, 1, [&](int64_t, int64_t begin, int64_t end) {
      MbRows(data, row_stride, cols, quads.data(), s, mb, begin, end);
    });
  }
  if (t.defined()) {
    const torch::Tensor t16 = t.to(torch::kBFloat16).contiguous();
    std::vector<float> partials(static_cast<size_t>(parts * cols * kRank), 0.0f);
    // Shares of whole row pairs, so that a pair's rows are one share's.
    thin_rows::ForEachPart(rows, parts, 2, [&](int64_t part, int64_t begin, int64_t end) {
      MtRows(data, row_stride, cols, t16.data_ptr<c10::BFloat16>(), begin, end,
             partials.data() + part * cols * kRank);
    });
    const float* sums = thin_rows::SumPartials(partials, parts, cols * kRank);
    out.mt = torch::empty({cols, kRank}, m.options().dtype(torch::kFloat32));
    float* mt = out.mt.data_ptr<float>();
    for (int64_t i = 0; i < cols * kRank; ++i) mt[i] = s * sums[i];
  }
#else
  (void)m, (void)b, (void)t, (void)scale;
#endif
  return out;
}

}  // namespace perennial
