#include "learner/model/cpu_attention.h"

#include <ATen/Parallel.h>

#include <limits>

namespace perennial {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Runs fn(begin, end) over ranges of the batch dimension, one range per thread. ATen ops called
// inside run single-threaded (ATen and OpenBLAS do not nest parallel regions).
template <typename Fn>
void ForEachHeadRange(int64_t batch, const Fn& fn) {
  at::parallel_for(0, batch, /*grain_size=*/1, fn);
}

#if PERENNIAL_FORTRAN_BLAS
// The process's BLAS (the one LibTorch links; OpenBLAS with libopenblas0-openmp), Fortran ABI.
extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c, const int* ldc);
#endif

// c[i] = alpha op(a[i]) op(b[i]) for every i of contiguous 3-D fp32 tensors, op = transpose
// where asked. ATen's CPU bmm in LibTorch 1.x runs each matrix through select() three times and
// a full addmm (~10 us of bookkeeping for a 65x64x65 head that computes in ~7 us); here each
// matrix is one BLAS call on raw pointers.
void BatchedProduct(const torch::Tensor& a, bool transpose_a, const torch::Tensor& b,
                    bool transpose_b, float alpha, torch::Tensor& c) {
  TORCH_INTERNAL_ASSERT(a.stride(2) == 1 && b.stride(2) == 1 && c.stride(2) == 1 &&
                        a.stride(1) == a.size(2) && b.stride(1) == b.size(2) &&
                        c.stride(1) == c.size(2));
#if PERENNIAL_FORTRAN_BLAS
  const int m = static_cast<int>(c.size(1)), n = static_cast<int>(c.size(2));
  const int k = static_cast<int>(transpose_a ? a.size(1) : a.size(2));
  const int lda = static_cast<int>(a.size(2)), ldb = static_cast<int>(b.size(2)), ldc = n;
  const float beta = 0;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: B's call comes first.
  const char op_a = transpose_a ? 'T' : 'N', op_b = transpose_b ? 'T' : 'N';
  const float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>();
  float* pc = c.data_ptr<float>();
  for (int64_t i = 0; i < c.size(0); ++i) {
    sgemm_(&op_b, &op_a, &n, &m, &k, &alpha, pb + i * b.stride(0), &ldb, pa + i * a.stride(0), &lda,
           &beta, pc + i * c.stride(0), &ldc);
  }
#else
  at::bmm_out(c, transpose_a ? a.transpose(1, 2) : a, transpose_b ? b.transpose(1, 2) : b);
  if (alpha != 1) c.mul_(alpha);
#endif
}

// The scores to leave out as a bool mask broadcast over a range of heads' [n, Lq, Lk] scores:
// [Lq, Lk] when causal, [B, Lq, Lk] for `hidden` (CpuAttention), undefined for none.
torch::Tensor HiddenScores(int64_t heads_total, int64_t lq, int64_t lk, bool causal,
                           const torch::Tensor& hidden) {
  if (hidden.defined()) {
    TORCH_CHECK(!causal, "CpuAttention: causal and a hidden mask together");
    TORCH_CHECK(hidden.scalar_type() == torch::kBool && hidden.dim() == 3 && hidden.size(1) == lq &&
                    hidden.size(2) == lk && hidden.size(0) > 0 && heads_total % hidden.size(0) == 0,
                "CpuAttention: hidden must be bool [G, ", lq, ", ", lk, "] with ", heads_total,
                " a multiple of G, got ", hidden.scalar_type(), " ", hidden.sizes());
    const int64_t groups = hidden.size(0);
    return hidden.unsqueeze(1)
        .expand({groups, heads_total / groups, lq, lk})
        .reshape({heads_total, lq, lk});
  }
  if (!causal) return torch::Tensor();
  TORCH_CHECK(lq == lk, "CpuAttention: causal needs as many queries as keys, got ", lq, " and ",
              lk);
  return torch::ones({lq, lk}, torch::kBool).triu(1);
}

class CpuAttentionFunction : public torch::autograd::Function<CpuAttentionFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in,
                               const torch::Tensor& k_in, const torch::Tensor& v_in, double scale,
                               bool causal, const torch::Tensor* hidden) {
    const torch::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const int64_t b = q.size(0), l = q.size(1);
    torch::Tensor probs = torch::empty({b, l, k.size(1)}, q.options());
    torch::Tensor out = torch::empty({b, l, v.size(2)}, q.options());
    const torch::Tensor mask = HiddenScores(b, l, k.size(1), causal, *hidden);
    ForEachHeadRange(b, [&](int64_t begin, int64_t end) {
      const int64_t n = end - begin;
      torch::Tensor scores = torch::empty({n, l, k.size(1)}, q.options());
      BatchedProduct(q.narrow(0, begin, n), false, k.narrow(0, begin, n), true,
                     static_cast<float>(scale), scores);
      if (mask.defined()) {
        scores.masked_fill_(mask.dim() == 3 ? mask.narrow(0, begin, n) : mask,
                            -std::numeric_limits<float>::infinity());
      }
      torch::Tensor p = probs.narrow(0, begin, n);
      at::_softmax_out(p, scores, -1, /*half_to_float=*/false);
      torch::Tensor o = out.narrow(0, begin, n);
      BatchedProduct(p, false, v.narrow(0, begin, n), false, 1, o);
    });
    ctx->save_for_backward({q, k, v, probs});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    const double scale = ctx->saved_data["scale"].toDouble();
    const torch::Tensor grad_out = grads[0].contiguous();
    torch::Tensor dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    ForEachHeadRange(q.size(0), [&](int64_t begin, int64_t end) {
      const int64_t n = end - begin;
      const torch::Tensor p = probs.narrow(0, begin, n), go = grad_out.narrow(0, begin, n);
      torch::Tensor dv_part = dv.narrow(0, begin, n);
      BatchedProduct(p, true, go, false, 1, dv_part);
      // dS = P * (dP - rowsum(dP * P)) * scale; masked entries have P = 0, hence dS = 0.
      torch::Tensor ds = torch::empty_like(p);
      BatchedProduct(go, false, v.narrow(0, begin, n), true, 1, ds);
      ds.sub_((ds * p).sum(-1, /*keepdim=*/true)).mul_(p).mul_(scale);
      torch::Tensor dq_part = dq.narrow(0, begin, n), dk_part = dk.narrow(0, begin, n);
      BatchedProduct(ds, false, k.narrow(0, begin, n), false, 1, dq_part);
      BatchedProduct(ds, true, q.narrow(0, begin, n), false, 1, dk_part);
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor CpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           double scale, bool causal, const torch::Tensor& hidden) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && k.sizes() == v.sizes() &&
                  q.size(0) == k.size(0) && q.size(2) == k.size(2),
              "CpuAttention: q [B, Lq, D] and k, v [B, Lk, D], got ", q.sizes(), ", ", k.sizes(),
              ", ", v.sizes());
  // `hidden` by pointer: an undefined tensor cannot be an autograd input.
  return CpuAttentionFunction::apply(q, k, v, scale, causal, &hidden);
}

}  // namespace perennial
