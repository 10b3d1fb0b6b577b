#include "learner/model/cpu_attention.h"

#include <ATen/Parallel.h>

#include <limits>
#include <vector>

#include "learner/model/cpu_small_gemm.h"
#include "learner/model/cpu_softmax.h"

namespace perennial {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Tensors inside the autograd function are [N, L, H, D], fp32 or bf16, with unit stride in D;
// head i is sequence i / H, head i % H: an [L, D] matrix at this offset.
int64_t HeadOffset(const torch::Tensor& t, int64_t i) {
  const int64_t heads = t.size(2);
  return (i / heads) * t.stride(0) + (i % heads) * t.stride(2);
}

// Head i as fp32 rows: in place for fp32, else converted into `staging`.
ConstMatrix HeadAsFloat(const torch::Tensor& t, int64_t i, std::vector<float>& staging) {
  if (t.scalar_type() == torch::kFloat32) {
    return {t.data_ptr<float>() + HeadOffset(t, i), t.stride(1)};
  }
  const int64_t rows = t.size(1), d = t.size(3);
  staging.resize(static_cast<size_t>(rows * d));
  Bf16RowsToFloat(t.data_ptr<c10::BFloat16>() + HeadOffset(t, i), t.stride(1), rows, d,
                  staging.data());
  return {staging.data(), d};
}

// Where head i's fp32 result is written: in t itself when t is fp32, else in `staging`, which
// Store() rounds into t.
class HeadResult {
 public:
  HeadResult(const torch::Tensor& t, int64_t i, std::vector<float>& staging) : t_(t), i_(i) {
    if (t.scalar_type() == torch::kFloat32) {
      data_ = t.data_ptr<float>() + HeadOffset(t, i);
      ld_ = t.stride(1);
    } else {
      staging.resize(static_cast<size_t>(t.size(1) * t.size(3)));
      data_ = staging.data();
      ld_ = t.size(3);
    }
  }
  float* data() const { return data_; }
  int64_t ld() const { return ld_; }
  void Store() const {
    if (t_.scalar_type() == torch::kFloat32) return;
    FloatRowsToBf16(data_, t_.size(1), t_.size(3),
                    t_.data_ptr<c10::BFloat16>() + HeadOffset(t_, i_), t_.stride(1));
  }

 private:
  const torch::Tensor& t_;
  const int64_t i_;
  float* data_;
  int64_t ld_;
};

// Per-thread fp32 copies of bf16 operands and results (unused for fp32).
struct Staging {
  std::vector<float> q, k, v, grad_out, result;
};

// Sets the scores that the softmax leaves out to -inf: the keys after the query's position
// (causal), or those where the head's sequence's [lq, lk] mask `hidden` is true.
void HideScores(float* scores, int64_t lq, int64_t lk, bool causal, const bool* hidden) {
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < lq; ++r) {
    float* row = scores + r * lk;
    if (causal) {
      for (int64_t c = r + 1; c < lk; ++c) row[c] = kHidden;
    } else if (hidden != nullptr) {
      const bool* hide = hidden + r * lk;
      for (int64_t c = 0; c < lk; ++c) row[c] = hide[c] ? kHidden : row[c];
    }
  }
}

class CpuAttentionFunction : public torch::autograd::Function<CpuAttentionFunction> {
 public:
  // q: [N, Lq, H, D], k, v: [N, Lk, H, D]; returns [N, Lq, H, D] (CpuAttention's layout note).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, double scale, bool causal,
                               const torch::Tensor* hidden) {
    const int64_t heads = q.size(2), lq = q.size(1), lk = k.size(1), d = q.size(3);
    const int64_t total_heads = q.size(0) * heads;
    torch::Tensor probs = torch::empty({total_heads, lq, lk}, q.options().dtype(torch::kFloat32));
    torch::Tensor out = torch::empty({q.size(0), lq, heads, d}, q.options());
    const bool* hide = hidden->defined() ? hidden->data_ptr<bool>() : nullptr;
    at::parallel_for(0, total_heads, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
      Staging staging;
      for (int64_t i = begin; i < end; ++i) {
        float* p = probs.data_ptr<float>() + i * lq * lk;
        SmallGemm(lq, lk, d, static_cast<float>(scale), HeadAsFloat(q, i, staging.q), false,
                  HeadAsFloat(k, i, staging.k), true, p, lk);
        HideScores(p, lq, lk, causal, hide == nullptr ? nullptr : hide + (i / heads) * lq * lk);
        SoftmaxRowsInPlace(p, lq, lk);
        const HeadResult o(out, i, staging.result);
        SmallGemm(lq, d, lk, 1, {p, lk}, false, HeadAsFloat(v, i, staging.v), false, o.data(),
                  o.ld());
        o.Store();
      }
    });
    ctx->save_for_backward({q, k, v, probs});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const float scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
    const torch::Tensor grad_out = grads[0].stride(3) == 1 ? grads[0] : grads[0].contiguous();
    const int64_t lq = q.size(1), lk = k.size(1), d = q.size(3);
    torch::Tensor dq = torch::empty(q.sizes(), q.options());
    torch::Tensor dk = torch::empty(k.sizes(), k.options());
    torch::Tensor dv = torch::empty(v.sizes(), v.options());
    at::parallel_for(0, q.size(0) * q.size(2), /*grain_size=*/1, [&](int64_t begin, int64_t end) {
      Staging staging;
      std::vector<float> ds(static_cast<size_t>(lq * lk));
      for (int64_t i = begin; i < end; ++i) {
        const float* p = probs.data_ptr<float>() + i * lq * lk;
        const ConstMatrix go = HeadAsFloat(grad_out, i, staging.grad_out);
        const HeadResult dv_i(dv, i, staging.result);
        SmallGemm(lk, d, lq, 1, {p, lk}, true, go, false, dv_i.data(), dv_i.ld());
        dv_i.Store();
        SmallGemm(lq, lk, d, 1, go, false, HeadAsFloat(v, i, staging.v), true, ds.data(), lk);
        SoftmaxBackwardRowsInPlace(p, ds.data(), lq, lk, scale);
        const HeadResult dq_i(dq, i, staging.result);
        SmallGemm(lq, d, lk, 1, {ds.data(), lk}, false, HeadAsFloat(k, i, staging.k), false,
                  dq_i.data(), dq_i.ld());
        dq_i.Store();
        const HeadResult dk_i(dk, i, staging.result);
        SmallGemm(lk, d, lq, 1, {ds.data(), lk}, true, HeadAsFloat(q, i, staging.q), false,
                  dk_i.data(), dk_i.ld());
        dk_i.Store();
      }
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// t ([N, H, L, D]) as the function's [N, L, H, D], fp32 or bf16, with unit stride in D; a view
// where it already is one.
torch::Tensor PositionsFirst(const torch::Tensor& t) {
  torch::Tensor x = t.transpose(1, 2);
  if (x.scalar_type() != torch::kBFloat16) x = x.to(torch::kFloat32);
  return x.stride(3) == 1 ? x : x.contiguous();
}

}  // namespace

torch::Tensor CpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           double scale, bool causal, const torch::Tensor& hidden) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && k.sizes() == v.sizes() && q.size(0) == k.size(0) &&
                  q.size(1) == k.size(1) && q.size(3) == k.size(3),
              "CpuAttention: q [N, H, Lq, D] and k, v [N, H, Lk, D], got ", q.sizes(), ", ",
              k.sizes(), ", ", v.sizes());
  TORCH_CHECK(q.is_cpu() && k.is_cpu() && v.is_cpu() && q.is_floating_point() &&
                  k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "CpuAttention: q, k and v must be CPU tensors of one floating dtype, got ",
              q.scalar_type(), ", ", k.scalar_type(), ", ", v.scalar_type());
  const int64_t lq = q.size(2), lk = k.size(2);
  if (hidden.defined()) {
    TORCH_CHECK(!causal, "CpuAttention: causal and a hidden mask together");
    TORCH_CHECK(hidden.scalar_type() == torch::kBool && hidden.dim() == 3 &&
                    hidden.size(0) == q.size(0) && hidden.size(1) == lq && hidden.size(2) == lk,
                "CpuAttention: hidden must be bool [", q.size(0), ", ", lq, ", ", lk, "], got ",
                hidden.scalar_type(), " ", hidden.sizes());
  }
  TORCH_CHECK(!causal || lq == lk, "CpuAttention: causal needs as many queries as keys, got ", lq,
              " and ", lk);
  // `hidden` by pointer: an undefined tensor cannot be an autograd input.
  const torch::Tensor mask = hidden.defined() ? hidden.contiguous() : hidden;
  const torch::Tensor out = CpuAttentionFunction::apply(PositionsFirst(q), PositionsFirst(k),
                                                        PositionsFirst(v), scale, causal, &mask);
  return out.transpose(1, 2).to(q.scalar_type());
}

}  // namespace perennial
