// File: learner/model/cpu_softmax.h
//
// Row softmax and its backward on small fp32 blocks that are already in cache, for the CPU
// attention's per-head scores (cpu_attention.cc). ATen's CPU softmax takes AVX2 exponentials
// (Sleef, 8 lanes) in a pass of its own over the whole range of heads; with AVX-512 these run
// 16 lanes on one head's scores right after they are computed. Elsewhere they call ATen.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_SOFTMAX_H_
#define PERENNIAL_LEARNER_MODEL_CPU_SOFTMAX_H_

#include <cstdint>

namespace perennial {

// Each row of x ([rows, cols], dense) becomes softmax(row), in place. -inf entries give exactly 0;
// a row of -inf only (or with a NaN) becomes NaN, as with ATen.
void SoftmaxRowsInPlace(float* x, int64_t rows, int64_t cols);

// The gradient of the scores from that of the probabilities p (both [rows, cols], dense),
// written over grad: grad = scale * p * (grad - rowsum(grad * p)).
void SoftmaxBackwardRowsInPlace(const float* p, float* grad, int64_t rows, int64_t cols,
                                float scale);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_SOFTMAX_H_
