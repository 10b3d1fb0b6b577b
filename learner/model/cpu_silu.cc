#include "learner/model/cpu_silu.h"

#include <ATen/Parallel.h>

#include <cstdint>

#include "learner/model/cpu_avx512.h"

namespace perennial {
namespace {

#if PERENNIAL_HAVE_AVX512_CODE
using avx512::Exp;
using avx512::kLanes;
using avx512::LowLanes;

PERENNIAL_AVX512 inline __m512 Load(const float* src, __mmask16 lanes) {
  return _mm512_maskz_loadu_ps(lanes, src);
}
PERENNIAL_AVX512 inline __m512 Load(const uint16_t* src, __mmask16 lanes) {
  return avx512::LoadBf16(src, lanes);
}
PERENNIAL_AVX512 inline void Store(float* dst, __mmask16 lanes, __m512 x) {
  _mm512_mask_storeu_ps(dst, lanes, x);
}
PERENNIAL_AVX512 inline void Store(uint16_t* dst, __mmask16 lanes, __m512 x) {
  avx512::StoreBf16(dst, lanes, x);
}

// 1 + exp(-x): inf where x <= -89 (or -inf), so that dividing by it gives 0 (or NaN for -inf, as
// ATen's). Divided by with vdivps: on this Zen 5 a division was ~20% faster in these loops than
// rcp14 and a Newton step (session 28).
PERENNIAL_AVX512 inline __m512 OnePlusExpNeg(__m512 x) {
  return _mm512_add_ps(_mm512_set1_ps(1.0f), Exp(_mm512_sub_ps(_mm512_setzero_ps(), x)));
}

template <typename T>
PERENNIAL_AVX512 void SiluRange(const T* x, T* y, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i += kLanes) {
    const __mmask16 lanes = LowLanes(end - i);
    const __m512 v = Load(x + i, lanes);
    Store(y + i, lanes, _mm512_div_ps(v, OnePlusExpNeg(v)));
  }
}

template <typename T>
PERENNIAL_AVX512 void SiluBackwardRange(const T* grad, const T* x, T* out, int64_t begin,
                                        int64_t end) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = begin; i < end; i += kLanes) {
    const __mmask16 lanes = LowLanes(end - i);
    const __m512 v = Load(x + i, lanes);
    const __m512 s = _mm512_div_ps(one, OnePlusExpNeg(v));
    const __m512 slope = _mm512_mul_ps(s, _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one));
    Store(out + i, lanes, _mm512_mul_ps(Load(grad + i, lanes), slope));
  }
}

// Elements per task of at::parallel_for (ATen's own grain for elementwise ops).
constexpr int64_t kGrain = 32768;

// Runs range(float*...) or range(uint16_t*...) (bf16 bits) over parts of [0, numel) in parallel.
template <typename Range>
void ForEachPart(const torch::Tensor& like, const Range& range) {
  at::parallel_for(0, like.numel(), kGrain, [&](int64_t begin, int64_t end) {
    if (like.scalar_type() == torch::kFloat) {
      range(static_cast<float*>(nullptr), begin, end);
    } else {
      range(static_cast<uint16_t*>(nullptr), begin, end);
    }
  });
}

template <typename T>
T* Data(const torch::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}
#endif  // PERENNIAL_HAVE_AVX512_CODE

bool Avx512Serves(const torch::Tensor& x) {
#if PERENNIAL_HAVE_AVX512_CODE
  return x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
         avx512::CpuRunsAvx512();
#else
  (void)x;
  return false;
#endif
}

class SiluFunction : public torch::autograd::Function<SiluFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return SiluForward(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    if (!grads[0].defined()) return {torch::Tensor()};
    return {SiluBackward(grads[0], ctx->get_saved_variables()[0])};
  }
};

}  // namespace

torch::Tensor SiluForward(const torch::Tensor& x) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (Avx512Serves(x)) {
    const torch::Tensor in = x.contiguous();
    torch::Tensor out = torch::empty(in.sizes(), in.options());
    ForEachPart(in, [&](auto* type, int64_t begin, int64_t end) {
      using T = std::remove_pointer_t<decltype(type)>;
      SiluRange(Data<T>(in), Data<T>(out), begin, end);
    });
    return out;
  }
#endif
  return at::silu(x);
}

torch::Tensor SiluBackward(const torch::Tensor& grad, const torch::Tensor& x) {
#if PERENNIAL_HAVE_AVX512_CODE
  if (Avx512Serves(x) && grad.scalar_type() == x.scalar_type() && grad.sizes() == x.sizes()) {
    const torch::Tensor in = x.contiguous(), g = grad.contiguous();
    torch::Tensor out = torch::empty(in.sizes(), in.options());
    ForEachPart(in, [&](auto* type, int64_t begin, int64_t end) {
      using T = std::remove_pointer_t<decltype(type)>;
      SiluBackwardRange(Data<T>(g), Data<T>(in), Data<T>(out), begin, end);
    });
    return out;
  }
#endif
  return at::silu_backward(grad, x);
}

torch::Tensor Silu(const torch::Tensor& x) {
  if (!Avx512Serves(x)) return torch::silu(x);
  return SiluFunction::apply(x);
}

const char* SiluKernel(const torch::Tensor& x) { return Avx512Serves(x) ? "avx512" : "aten"; }

}  // namespace perennial
