// File: learner/model/cpu_thin_products_bf16.h
//
// CpuThinPass's bf16 kernels (cpu_thin_products_bf16.cc says how), apart because they need
// AVX-512 BF16, which fewer CPUs have than AVX-512. Internal to cpu_thin_products.cc.
#ifndef PERENNIAL_LEARNER_MODEL_CPU_THIN_PRODUCTS_BF16_H_
#define PERENNIAL_LEARNER_MODEL_CPU_THIN_PRODUCTS_BF16_H_

#include <torch/torch.h>

#include "learner/model/cpu_thin_products.h"

namespace perennial {

// Whether this build and CPU run RunBf16ThinPass: AVX-512 BF16 on an AMD CPU (the .cc says
// why not Intel's).
bool CpuHasBf16ThinPass();

// CpuThinPass for m bf16 with cols a multiple of 16, b and t checked by the caller; mb comes
// back in bf16, mt in fp32. Only where CpuHasBf16ThinPass().
CpuThinProducts RunBf16ThinPass(const torch::Tensor& m, const torch::Tensor& b,
                                const torch::Tensor& t, double scale);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_CPU_THIN_PRODUCTS_BF16_H_
