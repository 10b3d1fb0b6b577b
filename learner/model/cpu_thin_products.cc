// File: learner/model/cpu_thin_products.cc
//
// The pair layout: a [cols, 8] matrix as cols / 2 vectors of 16 floats, lane 2r + j holding
// column c + j's value r. Broadcasting m's element pair (c, c + 1) as one 64-bit value gives
// the vector whose lane 2r + j holds element c + j, so
//   - one FMA with B's pair vector adds both elements' products to mb's 8 sums (lanes 2r and
//     2r + 1 are summed once per row, after the loop), and
//   - one FMA with t's row duplicated into lanes 2r and 2r + 1 adds the row's share to mt's
//     two rows c and c + 1 at once.
// A block of rows shares each loaded B pair and mt accumulator; AVX-512 code is compiled per
// function (target attribute), not with a global flag, and runs only where the CPU has it.
#include "learner/model/cpu_thin_products.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "learner/model/cpu_avx512.h"
#include "learner/model/cpu_thin_products_bf16.h"
#include "learner/model/cpu_thin_rows.h"

namespace perennial {

#if PERENNIAL_HAVE_AVX512_CODE
namespace {

using avx512::kAllLanes;
constexpr __mmask16 kLow8Lanes = 0x00FF;

constexpr int64_t kRank = 8;
// Rows one block runs together: 8 mb sums and 8 scaled t rows stay in registers, and each
// column pair's B vector and mt accumulator are loaded once per 8 rows.
constexpr int kBlockRows = 8;

std::vector<float> ToPairLayout(const torch::Tensor& matrix, float scale) {
  const torch::Tensor m = matrix.to(torch::kFloat32).contiguous();
  const int64_t cols = m.size(0);
  const float* src = m.data_ptr<float>();
  std::vector<float> pairs(static_cast<size_t>(cols * kRank));
  for (int64_t c = 0; c < cols; c += 2) {
    for (int64_t r = 0; r < kRank; ++r) {
      for (int64_t j = 0; j < 2; ++j) {
        pairs[c * kRank + 2 * r + j] = scale * src[(c + j) * kRank + r];
      }
    }
  }
  return pairs;
}

void FromPairLayout(const float* pairs, int64_t cols, float* out) {
  for (int64_t c = 0; c < cols; c += 2) {
    for (int64_t r = 0; r < kRank; ++r) {
      for (int64_t j = 0; j < 2; ++j) out[(c + j) * kRank + r] = pairs[c * kRank + 2 * r + j];
    }
  }
}

// Elements p[0] and p[1] in alternate lanes (p[0] in the even ones).
PERENNIAL_AVX512 inline __m512 LoadPair(const float* p) {
  double pair;
  std::memcpy(&pair, p, sizeof pair);
  return _mm512_castpd_ps(_mm512_set1_pd(pair));
}

// s t[r] in lanes 2r and 2r + 1.
PERENNIAL_AVX512 inline __m512 DuplicatedRow(const float* row, float scale) {
  const __m512i lanes = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512 row8 = _mm512_maskz_loadu_ps(kLow8Lanes, row);
  return _mm512_mul_ps(_mm512_maskz_permutexvar_ps(kAllLanes, lanes, row8), _mm512_set1_ps(scale));
}

// Lanes 2r + 2r + 1 -> r, as 8 floats.
PERENNIAL_AVX512 inline void StoreSummedPairs(__m512 sums, float* out) {
  const __m512i even = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 15, 13, 11, 9, 7, 5, 3, 1);
  const __m512 folded = _mm512_add_ps(_mm512_maskz_permutexvar_ps(kAllLanes, even, sums),
                                      _mm512_maskz_permutexvar_ps(kAllLanes, odd, sums));
  _mm512_mask_storeu_ps(out, kLow8Lanes, folded);
}

// What one range of rows reads and writes. Pointers a product does not use are null.
struct RowsArgs {
  const float* m;
  int64_t row_stride;
  int64_t cols;
  const float* b_pairs;  // s B in the pair layout
  const float* t;        // [rows, 8] fp32, unscaled
  float scale;
  float* mb;        // [rows, 8]
  float* mt_pairs;  // this range's mt sums in the pair layout, added to
};

template <int kRows, bool kMb, bool kMt>
PERENNIAL_AVX512 void BlockPass(const RowsArgs& a, int64_t row) {
  const float* m = a.m + row * a.row_stride;
  __m512 t_rows[kRows];
  __m512 mb_sums[kRows];
  // Unrolled, so that the sums and t rows live in registers (-O2 keeps loops over them rolled,
  // with every sum stored and reloaded around its FMA).
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i) {
    if constexpr (kMt) t_rows[i] = DuplicatedRow(a.t + (row + i) * kRank, a.scale);
    mb_sums[i] = _mm512_setzero_ps();
  }
  for (int64_t c = 0; c < a.cols; c += 2) {
    __m512 b_pair = _mm512_setzero_ps(), mt_even = _mm512_setzero_ps();
    __m512 mt_odd = _mm512_setzero_ps();
    if constexpr (kMb) b_pair = _mm512_loadu_ps(a.b_pairs + c * kRank);
    if constexpr (kMt) mt_even = _mm512_loadu_ps(a.mt_pairs + c * kRank);
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) {
      const __m512 m_pair = LoadPair(m + i * a.row_stride + c);
      if constexpr (kMb) mb_sums[i] = _mm512_fmadd_ps(m_pair, b_pair, mb_sums[i]);
      // Two chains, so that the block's FMAs into mt do not wait on each other.
      if constexpr (kMt) {
        if (i % 2 == 0) {
          mt_even = _mm512_fmadd_ps(m_pair, t_rows[i], mt_even);
        } else {
          mt_odd = _mm512_fmadd_ps(m_pair, t_rows[i], mt_odd);
        }
      }
    }
    if constexpr (kMt) _mm512_storeu_ps(a.mt_pairs + c * kRank, _mm512_add_ps(mt_even, mt_odd));
  }
  if constexpr (kMb) {
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) StoreSummedPairs(mb_sums[i], a.mb + (row + i) * kRank);
  }
}

template <bool kMb, bool kMt>
PERENNIAL_AVX512 void RowsPass(const RowsArgs& a, int64_t begin, int64_t end) {
  int64_t row = begin;
  for (; row + kBlockRows <= end; row += kBlockRows) BlockPass<kBlockRows, kMb, kMt>(a, row);
  for (; row < end; ++row) BlockPass<1, kMb, kMt>(a, row);
}

void RunRows(const RowsArgs& a, int64_t begin, int64_t end) {
  if (a.b_pairs != nullptr && a.t != nullptr) return RowsPass<true, true>(a, begin, end);
  if (a.b_pairs != nullptr) return RowsPass<true, false>(a, begin, end);
  RowsPass<false, true>(a, begin, end);
}

CpuThinProducts Run(const torch::Tensor& m, const torch::Tensor& b, const torch::Tensor& t,
                    float scale) {
  const int64_t rows = m.size(0), cols = m.size(1);
  CpuThinProducts out;
  std::vector<float> b_pairs;
  torch::Tensor t32;
  RowsArgs args{m.data_ptr<float>(), m.stride(0), cols, nullptr, nullptr, scale, nullptr, nullptr};
  if (b.defined()) {
    b_pairs = ToPairLayout(b, scale);
    args.b_pairs = b_pairs.data();
    out.mb = torch::empty({rows, kRank}, m.options());
    args.mb = out.mb.data_ptr<float>();
  }
  const int64_t parts = thin_rows::Parts(rows);
  std::vector<float> mt_partials;
  if (t.defined()) {
    t32 = t.to(torch::kFloat32).contiguous();
    args.t = t32.data_ptr<float>();
    mt_partials.assign(static_cast<size_t>(parts * cols * kRank), 0.0f);
  }
  thin_rows::ForEachPart(rows, parts, 1, [&](int64_t part, int64_t begin, int64_t end) {
    RowsArgs part_args = args;
    if (t.defined()) part_args.mt_pairs = mt_partials.data() + part * cols * kRank;
    RunRows(part_args, begin, end);
  });
  if (t.defined()) {
    const float* sums = thin_rows::SumPartials(mt_partials, parts, cols * kRank);
    out.mt = torch::empty({cols, kRank}, m.options().dtype(torch::kFloat32));
    FromPairLayout(sums, cols, out.mt.data_ptr<float>());
  }
  return out;
}

bool IsRankEightOperand(const torch::Tensor& x, int64_t length) {
  return !x.defined() || (x.device().is_cpu() && x.dim() == 2 && x.size(0) == length &&
                          x.size(1) == kRank && x.is_floating_point());
}

}  // namespace
#endif  // PERENNIAL_HAVE_AVX512_CODE

std::optional<CpuThinProducts> CpuThinPass(const torch::Tensor& m, const torch::Tensor& b,
                                           const torch::Tensor& t, double scale) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (!avx512::CpuRunsAvx512() || (!b.defined() && !t.defined())) return std::nullopt;
  if (!m.defined() || !m.device().is_cpu() || m.dim() != 2 || m.stride(1) != 1) {
    return std::nullopt;
  }
  const int64_t rows = m.size(0), cols = m.size(1);
  if (rows == 0 || cols == 0 || cols % 2 != 0) return std::nullopt;
  if (!IsRankEightOperand(b, cols) || !IsRankEightOperand(t, rows)) return std::nullopt;
  if (m.scalar_type() == torch::kBFloat16 && cols % 16 == 0 && CpuHasBf16ThinPass()) {
    return RunBf16ThinPass(m, b, t, scale);
  }
  if (m.scalar_type() != torch::kFloat32) return std::nullopt;
  return Run(m, b, t, static_cast<float>(scale));
#else
  (void)m, (void)b, (void)t, (void)scale;
  return std::nullopt;
#endif
}

}  // namespace perennial
