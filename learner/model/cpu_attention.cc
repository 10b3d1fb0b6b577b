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

torch::Tensor CausalMask(int64_t length) {
  return torch::ones({length, length}, torch::kBool).triu(1);
}

class CpuAttentionFunction : public torch::autograd::Function<CpuAttentionFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q_in,
                               const torch::Tensor& k_in, const torch::Tensor& v_in, double scale,
                               bool causal) {
    const torch::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const int64_t b = q.size(0), l = q.size(1);
    torch::Tensor probs = torch::empty({b, l, k.size(1)}, q.options());
    torch::Tensor out = torch::empty({b, l, v.size(2)}, q.options());
    const torch::Tensor mask = causal ? CausalMask(l) : torch::Tensor();
    ForEachHeadRange(b, [&](int64_t begin, int64_t end) {
      const int64_t n = end - begin;
      torch::Tensor scores = at::bmm(q.narrow(0, begin, n), k.narrow(0, begin, n).transpose(1, 2));
      scores.mul_(scale);
      if (causal) scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
      torch::Tensor p = probs.narrow(0, begin, n);
      at::_softmax_out(p, scores, -1, /*half_to_float=*/false);
      torch::Tensor o = out.narrow(0, begin, n);
      at::bmm_out(o, p, v.narrow(0, begin, n));
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
      at::bmm_out(dv_part, p.transpose(1, 2), go);
      // dS = P * (dP - rowsum(dP * P)) * scale; masked entries have P = 0, hence dS = 0.
      torch::Tensor ds = at::bmm(go, v.narrow(0, begin, n).transpose(1, 2));
      ds.sub_((ds * p).sum(-1, /*keepdim=*/true)).mul_(p).mul_(scale);
      torch::Tensor dq_part = dq.narrow(0, begin, n), dk_part = dk.narrow(0, begin, n);
      at::bmm_out(dq_part, ds, k.narrow(0, begin, n));
      at::bmm_out(dk_part, ds.transpose(1, 2), q.narrow(0, begin, n));
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor CpuAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           double scale, bool causal) {
  return CpuAttentionFunction::apply(q, k, v, scale, causal);
}

}  // namespace perennial
