// File: learner/model/cpu_thin_rows.h
//
// How the CPU rank-8 passes (cpu_thin_products.cc, cpu_thin_products_bf16.cc) share their rows
// between LibTorch's intra-op threads: one contiguous share per thread, and for m^T t each share
// sums into a partial [cols, 8] of its own, added up afterwards. Internal to those two files.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_THIN_ROWS_H_
#define PERENNIAL_LEARNER_MODEL_CPU_THIN_ROWS_H_

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace perennial::thin_rows {

// A thread's share below this many rows is not worth its partial sums.
inline constexpr int64_t kMinRowsPerPart = 64;

// How many shares the rows split into: one per intra-op thread, of at least kMinRowsPerPart rows.
inline int64_t Parts(int64_t rows) {
  return std::clamp<int64_t>(rows / kMinRowsPerPart, 1, std::max(1, at::get_num_threads()));
}

// run_part(part, first row, end row) for each of `parts` shares, in parallel. Each share but the
// last ends on a multiple of `align` rows (the bf16 pass takes rows in pairs).
template <typename RunPart>
void ForEachPart(int64_t rows, int64_t parts, int64_t align, const RunPart& run_part) {
  const auto boundary = [&](int64_t part) {
    return part == parts ? rows : rows * part / parts / align * align;
  };
  at::parallel_for(0, parts, 1, [&](int64_t first, int64_t last) {
    for (int64_t part = first; part < last; ++part) {
      run_part(part, boundary(part), boundary(part + 1));
    }
  });
}

// `parts` partial sums of `size` floats each, one after another: their sum, in the first.
inline float* SumPartials(std::vector<float>& partials, int64_t parts, int64_t size) {
  float* sums = partials.data();
  for (int64_t part = 1; part < parts; ++part) {
    const float* partial = partials.data() + part * size;
    for (int64_t i = 0; i < size; ++i) sums[i] += partial[i];
  }
  return sums;
}

}  // namespace perennial::thin_rows

#endif  // PERENNIAL_LEARNER_MODEL_CPU_THIN_ROWS_H_
