#include "learner/model/transformer.h"

#include <array>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "learner/base/yield_point.h"
#include "learner/model/cpu_attention.h"
#include "learner/model/cpu_silu.h"
#include "learner/model/fused_add_layer_norm.h"
#include "learner/model/lora_linear.h"

namespace perennial {
namespace {

// QuickGELU(m) = m sigmoid(1.702 m) = SiLU(1.702 m) / 1.702. The MLP runs it as one SiLU, with
// 1.702 folded into the fc products and 1 / 1.702 into the proj products (a GEMM's alpha, or
// the packed oneDNN weights): fewer passes over the widest activations, forward and backward.
// Elementwise kernels took ~44% of the GPU time of a ViT-B/16 bf16 SIT step in PyTorch eager on
// an H200; on CPU QuickGELU's three ops took 1.5 ms on a ViT-B/32 layer's [800, 3072] against
// SiLU's 1.05, before their backward.
constexpr double kQuickGeluScale = 1.702;

// The members of BlockAdapters that adapt one linear map of a block.
struct AdaptedMap {
  BlockMap id;
  LoraPair BlockAdapters::*lora;
  torch::Tensor BlockAdapters::*merged;
  PackedLinear BlockAdapters::*packed;
};
constexpr AdaptedMap kQkv{BlockMap::kQkv, &BlockAdapters::qkv, &BlockAdapters::merged_qkv,
                          &BlockAdapters::packed_qkv};
constexpr AdaptedMap kOut{BlockMap::kOut, &BlockAdapters::out, &BlockAdapters::merged_out,
                          &BlockAdapters::packed_out};
constexpr AdaptedMap kFc{BlockMap::kFc, &BlockAdapters::fc, &BlockAdapters::merged_fc,
                         &BlockAdapters::packed_fc};
constexpr AdaptedMap kProj{BlockMap::kProj, &BlockAdapters::proj, &BlockAdapters::merged_proj,
                           &BlockAdapters::packed_proj};

// Scales folded into the products of one map: y = out * f(in * x), with f the map (base plus
// LoRA delta). They cost nothing inside a GEMM, where a separate multiply would be another pass
// over the activations.
struct MapScales {
  double in = 1, out = 1;
};

MapScales ScalesOf(BlockMap map, Activation activation) {
  if (activation != Activation::kQuickGelu) return {};
  if (map == BlockMap::kFc) return {1, kQuickGeluScale};
  if (map == BlockMap::kProj) return {1 / kQuickGeluScale, 1};
  return {};
}

torch::Tensor Activate(const torch::Tensor& x, Activation activation) {
  if (activation == Activation::kGelu) return torch::gelu(x);
  return Silu(x);  // QuickGELU with its scales folded into fc and proj (above)
}

// x W^T + bias with the map's scales folded in (MapScales), for x [rows, in]: the packed oneDNN
// weights where they serve x, else one ATen product.
torch::Tensor ScaledProduct(const torch::Tensor& x2d, const torch::Tensor& weight,
                            const torch::Tensor& bias, const PackedLinear& packed, double scale) {
  if (packed.defined()) return OneDnnLinear(x2d, packed);
  if (scale == 1) return torch::linear(x2d, weight, bias);
  TORCH_CHECK(bias.defined(), "AdaptedLinear: scaled maps need a bias");
  return torch::addmm(bias, x2d, weight.t(), /*beta=*/1, /*alpha=*/scale);
}

// The LoRA pair of `map` when the map runs as one LoRA node (AdaptedLinearChunks): adapters
// with a LoRA pair for it, not merged into a weight, and no LoRA dropout (which composes
// separate ops). Else null.
const LoraPair* LoraNodePair(const BlockAdapters* a, const AdaptedMap& map, const PetRuntime& rt) {
  if (a == nullptr || (a->*map.merged).defined() || !(a->*map.lora).defined()) return nullptr;
  const bool dropout = rt.training && rt.options != nullptr && rt.options->lora_dropout > 0;
  return dropout ? nullptr : &(a->*map.lora);
}

// y = x W^T + b for one adapted map of a block: the merged weight in place of W when the
// adapters carry one, else the base map plus the LoRA delta (lora_linear.h; composed from
// separate ops when LoRA dropout applies), with the map's scales folded in. `a` may be null (no
// adapters). Packed weights are used only when packed with the map's scales (PackBlockLinear).
// y comes back as `chunks` equal blocks of its last dim (views): from one LoRA node that keeps
// their gradients apart where `fused.qkv_grads_apart` asks (LoraLinearChunks), else split.
// With `activate` (one chunk only), Activate(y) comes back instead, from the LoRA node itself
// where `fused.silu_lora` asks and the activation is SiLU; that node then also sets `*next_t`
// (when non-null) to Activate(y) next.a^T for the LoRA pair `next` of the map that reads it
// (LoraLinearBase::next_a). `t`: x A^T for this map's LoRA node when the caller has it.
std::vector<torch::Tensor> AdaptedLinearChunks(const torch::Tensor& x, const LinearWeights& base,
                                               const BlockAdapters* a, const AdaptedMap& map,
                                               const PetRuntime& rt, Activation activation,
                                               const FusedKernels& fused, int64_t chunks,
                                               bool activate, const LoraPair* next = nullptr,
                                               torch::Tensor* next_t = nullptr,
                                               const torch::Tensor& t = {}) {
  const bool merged = a != nullptr && (a->*map.merged).defined();
  const LinearWeights w = merged ? LinearWeights{a->*map.merged, base.bias, a->*map.packed} : base;
  const bool lora = !merged && a != nullptr && (a->*map.lora).defined();
  const LoraPair* node_pair = LoraNodePair(a, map, rt);
  const MapScales scales = ScalesOf(map.id, activation);
  const double scale = scales.in * scales.out;
  const PackedLinear packed = w.packed.Serves(x, scale) ? w.packed : PackedLinear();
  const int64_t in = x.size(-1), chunk_width = w.weight.size(0) / chunks;
  std::vector<int64_t> chunk_shape = x.sizes().vec();
  chunk_shape.back() = chunk_width;
  const torch::Tensor x2d = x.reshape({-1, in});
  const torch::Tensor bias = scales.out == 1 || !w.bias.defined() ? w.bias : w.bias * scales.out;
  std::vector<torch::Tensor> parts;
  bool activated = false;
  if (node_pair != nullptr) {
    LoraLinearBase lora_base{w.weight, bias, packed, scale, fused.lora_grad};
    lora_base.silu_output = activated =
        activate && fused.silu_lora && activation == Activation::kQuickGelu;
    if (activated && next != nullptr && next_t != nullptr) lora_base.next_a = next->a.to(x.dtype());
    lora_base.t = t;
    parts = LoraLinearChunks(x2d, lora_base, *node_pair, rt.options->lora_scaling() * scale,
                             fused.qkv_grads_apart ? chunks : 1);
    if (lora_base.next_a.defined() && parts.size() == 2) {
      *next_t = std::move(parts.back());
      parts.pop_back();
    }
  } else {
    torch::Tensor y = ScaledProduct(x2d, w.weight, bias, packed, scale);
    if (lora) {
      const LoraPair& pair = a->*map.lora;
      const torch::Tensor h = torch::dropout(x2d, rt.options->lora_dropout, /*train=*/true);
      y.addmm_(torch::linear(h, pair.a.to(x.dtype())), pair.b.to(x.dtype()).t(), /*beta=*/1,
               /*alpha=*/rt.options->lora_scaling() * scale);
    }
    parts = {std::move(y)};
  }
  if (activate && !activated) parts[0] = Activate(parts[0], activation);
  if (parts.size() == 1 && chunks > 1) parts = parts[0].split(chunk_width, 1);
  for (torch::Tensor& part : parts) part = part.view(chunk_shape);
  return parts;
}

// `t`: AdaptedLinearChunks's.
torch::Tensor AdaptedLinear(const torch::Tensor& x, const LinearWeights& base,
                            const BlockAdapters* a, const AdaptedMap& map, const PetRuntime& rt,
                            Activation activation, const FusedKernels& fused,
                            const torch::Tensor& t = {}) {
  return AdaptedLinearChunks(x, base, a, map, rt, activation, fused, 1, /*activate=*/false, nullptr,
                             nullptr, t)[0];
}

// Activate(AdaptedLinear(...)): the MLP's first map and its activation; `next`, `next_t`:
// AdaptedLinearChunks's.
torch::Tensor ActivatedLinear(const torch::Tensor& x, const LinearWeights& base,
                              const BlockAdapters* a, const AdaptedMap& map, const PetRuntime& rt,
                              Activation activation, const FusedKernels& fused,
                              const LoraPair* next, torch::Tensor* next_t) {
  return AdaptedLinearChunks(x, base, a, map, rt, activation, fused, 1, /*activate=*/true, next,
                             next_t)[0];
}

// A block's queries, keys and values, each [..., W]: the q/k/v map's output in three blocks
// (AdaptedLinearChunks).
struct Qkv {
  torch::Tensor q, k, v;

  // Rows [start, start + length) of [rows, W] parts.
  Qkv Rows(int64_t start, int64_t length) const {
    return {q.narrow(0, start, length), k.narrow(0, start, length), v.narrow(0, start, length)};
  }
};

Qkv AdaptedQkv(const torch::Tensor& x, const LinearWeights& base, const BlockAdapters* a,
               const PetRuntime& rt, Activation activation, const FusedKernels& fused) {
  std::vector<torch::Tensor> parts =
      AdaptedLinearChunks(x, base, a, kQkv, rt, activation, fused, /*chunks=*/3, false);
  return {std::move(parts[0]), std::move(parts[1]), std::move(parts[2])};
}

// One of q, k, v ([n l, W] or [n, l, W]) as an [n, H, l, Dh] view.
torch::Tensor SplitHeads(const torch::Tensor& part, int64_t n, int64_t l, int heads) {
  return part.view({n, l, heads, part.size(-1) / heads}).transpose(1, 2);
}

// q, k and v ([n l, W] or [n, l, W] each) as three [n, H, l, Dh] views.
std::array<torch::Tensor, 3> HeadsOf(const Qkv& qkv, int64_t n, int64_t l, int heads) {
  return {SplitHeads(qkv.q, n, l, heads), SplitHeads(qkv.k, n, l, heads),
          SplitHeads(qkv.v, n, l, heads)};
}

// Attention over n sequences of l positions (q, k and v as HeadsOf takes them): [n, l, W].
torch::Tensor Attention(const Qkv& qkv, int64_t n, int64_t l, int heads, bool causal) {
  const int64_t w = qkv.q.size(-1);
  // q, k, v as [N, H, L, Dh] views of the map's output blocks. Their gradients (which the CUDA
  // attention kernels write in [N, L, H, Dh] order) reach the q/k/v map as they are, or joined
  // in its layout with one contiguous concatenation (FusedKernels::qkv_grads_apart); with a view
  // to [N, L, 3, H, Dh] and unbind, the backward stacked them as [3, N, H, L, Dh] and copied
  // that again to permute it back (9.6 ms of a 91 ms ViT-B/16 bf16 SIT step on an H100).
  const std::array<torch::Tensor, 3> parts = HeadsOf(qkv, n, l, heads);
#if TORCH_VERSION_MAJOR >= 2
  torch::Tensor out = at::scaled_dot_product_attention(parts[0], parts[1], parts[2], {}, 0.0,
                                                       /*is_causal=*/causal);
#else
  const int64_t head_dim = w / heads;
  if (qkv.q.device().is_cpu()) {
    return CpuAttention(parts[0], parts[1], parts[2], 1.0 / std::sqrt(head_dim), causal)
        .transpose(1, 2)
        .reshape({n, l, w});
  }
  torch::Tensor scores =
      torch::matmul(parts[0], parts[1].transpose(-2, -1)) * (1.0 / std::sqrt(head_dim));
  if (causal) {
    auto mask =
        torch::ones({l, l}, torch::TensorOptions().dtype(torch::kBool).device(qkv.q.device()))
            .triu(1);
    scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  }
  torch::Tensor out = torch::matmul(torch::softmax(scores, -1), parts[2]);
#endif
  return out.transpose(1, 2).reshape({n, l, w});
}

// x[n, rows[n]] for x [N, L, ...]: [N, ...].
torch::Tensor GatherRows(const torch::Tensor& x, const torch::Tensor& rows) {
  return x.index({torch::arange(x.size(0), rows.options()), rows});
}

// softmax(q k^T / sqrt(Dh)) v over [N, H, Sq|Lk, Dh] heads, with the scores where `hidden`
// ([N, Sq, Lk] bool, or undefined: none) is true left out. The softmax runs in fp32 (the rows
// are short: this serves one query per sequence, or a few suffix positions). [N, H, Sq, Dh].
torch::Tensor MaskedAttention(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& hidden) {
  const int64_t head_dim = q.size(3);
  if (q.is_cpu()) {
    // Its heads' products are a few positions each: ATen's bmm spends more per matrix on
    // bookkeeping than on the product (cpu_attention.h).
    return CpuAttention(q, k, v, 1.0 / std::sqrt(head_dim), /*causal=*/false, hidden);
  }
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(head_dim));
  if (hidden.defined()) {
    scores = scores.masked_fill(hidden.unsqueeze(1), -std::numeric_limits<float>::infinity());
  }
  return torch::matmul(torch::softmax(scores, -1, torch::kFloat32).to(v.scalar_type()), v);
}

// Under a causal mask, which of `keys` key positions each query at `query_positions` ([N, Sq])
// must not see: [N, Sq, keys], the keys at positions key_offset, key_offset + 1, ...
torch::Tensor FutureKeys(const torch::Tensor& query_positions, int64_t keys, int64_t key_offset) {
  const torch::Tensor key_positions =
      torch::arange(key_offset, key_offset + keys, query_positions.options());
  return key_positions.view({1, 1, keys}) > query_positions.unsqueeze(-1);
}

// Attention for one query per sequence, the one at position rows[n], over all of its keys (up
// to rows[n] when causal): [N, W].
torch::Tensor AttentionForRows(const Qkv& qkv, int heads, bool causal, const torch::Tensor& rows) {
  const int64_t n = qkv.q.size(0), l = qkv.q.size(1), w = qkv.q.size(2);
  const std::array<torch::Tensor, 3> qkv_heads = HeadsOf(qkv, n, l, heads);
  const torch::Tensor q = GatherRows(qkv_heads[0].transpose(1, 2), rows).unsqueeze(2);
  const torch::Tensor hidden = causal ? FutureKeys(rows.view({n, 1}), l, 0) : torch::Tensor();
  return MaskedAttention(q, qkv_heads[1], qkv_heads[2], hidden).view({n, w});
}

// The residual stream between two LayerNorms: x + branch, with the add left for the LayerNorm
// that reads the sum to fuse (fused_add_layer_norm.h). `branch` may be undefined (none).
struct Residual {
  torch::Tensor x;
  torch::Tensor branch;

  torch::Tensor Sum() const { return branch.defined() ? x + branch : x; }
};

// The residual's sum and LayerNorm(sum): one fused op where `fused` asks and the kernels take it.
// Takes `r` by value so that its two tensors are released once summed (autograd keeps what it
// needs), not held by the caller through the rest of the block.
AddLayerNormOutput SumAndNorm(Residual r, const LayerNormWeights& w, const FusedKernels& fused) {
  if (fused.add_layer_norm && r.branch.defined()) {
    std::optional<AddLayerNormOutput> out =
        FusedAddLayerNorm(r.x, r.branch, w.weight, w.bias, 1e-5);
    if (out) return *std::move(out);
  }
  torch::Tensor sum = r.Sum();
  torch::Tensor normed = LayerNorm(sum, w);
  return {std::move(sum), std::move(normed)};
}

// h + MLP(LN_2(h)) for h = in.Sum(), with the bottleneck adapter on the MLP output when `a` has
// one; the last add is left in the returned residual. Row-wise.
Residual MlpResidual(const BlockWeights& b, Residual in, Activation activation,
                     const BlockAdapters* a, const PetRuntime& rt, const FusedKernels& fused) {
  AddLayerNormOutput h = SumAndNorm(std::move(in), b.ln_2, fused);
  // proj's t = m A^T from fc's node, with SiLU, where it can (LoraLinearBase::next_a).
  torch::Tensor proj_t;
  torch::Tensor m = ActivatedLinear(h.normed, b.fc, a, kFc, rt, activation, fused,
                                    LoraNodePair(a, kProj, rt), &proj_t);
  m = AdaptedLinear(m, b.proj, a, kProj, rt, activation, fused, proj_t);
  if (a != nullptr && a->down_weight.defined()) {
    // Houlsby-style bottleneck on the MLP output, before the residual add.
    torch::Tensor z =
        torch::relu(torch::linear(m, a->down_weight.to(m.dtype()), a->down_bias.to(m.dtype())));
    z = torch::linear(z, a->up_weight.to(m.dtype()), a->up_bias.to(m.dtype()));
    m = m + z * rt.options->bottleneck_scale;
  }
  return {std::move(h.sum), std::move(m)};
}

// One block over the residual stream in.Sum() [N, L, W]; returns the next one, its last add
// left undone. With `read_rows` defined, only the rows x[n, read_rows[n]] of the output are
// computed ([N, W]): every position's keys and values, one query per sequence.
Residual BlockForward(const BlockWeights& b, Residual in, int heads, Activation activation,
                      bool causal, const BlockAdapters* a, const PetRuntime& rt,
                      const torch::Tensor& read_rows, const FusedKernels& fused) {
  const AddLayerNormOutput x = SumAndNorm(std::move(in), b.ln_1, fused);
  const Qkv qkv = AdaptedQkv(x.normed, b.qkv, a, rt, activation, fused);
  if (!read_rows.defined()) {
    const torch::Tensor attn = Attention(qkv, x.normed.size(0), x.normed.size(1), heads, causal);
    return MlpResidual(b, {x.sum, AdaptedLinear(attn, b.out, a, kOut, rt, activation, fused)},
                       activation, a, rt, fused);
  }
  const torch::Tensor attn = AttentionForRows(qkv, heads, causal, read_rows);
  return MlpResidual(
      b, {GatherRows(x.sum, read_rows), AdaptedLinear(attn, b.out, a, kOut, rt, activation, fused)},
      activation, a, rt, fused);
}

// Where the suffix rows of a shared-prefix tower (SharedPrefixTransformerForward) sit among its
// rows: after the P prefix rows, each sequence's positions up to its read row (its EOT), one
// sequence after another. Under the causal mask no later position reaches a read row, so the
// padding after each EOT up to the call's longest text is left out of every row-wise step:
// about a third of the suffix rows for dictionary words in "a photo of a {}." (3-7 positions
// after the 5 shared ones). Attention takes the rows back to [N, S] with zeros in the left-out
// positions, which come after every query that sees them: masked.
class SuffixRows {
 public:
  // `read_rows`: [N] int64, each in [0, s).
  SuffixRows(const torch::Tensor& read_rows, int64_t s)
      : n_(read_rows.size(0)), s_(s), read_rows_(read_rows) {
    const torch::Tensor last = read_rows.to(torch::kCPU, torch::kLong).contiguous();
    const int64_t* r = last.data_ptr<int64_t>();
    std::vector<int64_t> kept, read_index(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) {
      TORCH_CHECK(r[i] >= 0 && r[i] < s, "SharedPrefixTransformerForward: read row ", r[i],
                  " is not one of the suffix's ", s, " positions");
      for (int64_t j = 0; j <= r[i]; ++j) kept.push_back(i * s + j);
      read_index[static_cast<size_t>(i)] = static_cast<int64_t>(kept.size()) - 1;
    }
    count_ = static_cast<int64_t>(kept.size());
    read_index_ = torch::tensor(read_index, torch::kLong).to(read_rows.device());
    if (count_ < n_ * s_) kept_ = torch::tensor(kept, torch::kLong).to(read_rows.device());
  }

  int64_t sequences() const { return n_; }
  int64_t positions() const { return s_; }
  int64_t count() const { return count_; }  // M, the suffix rows kept
  const torch::Tensor& read_rows() const { return read_rows_; }

  // [N S, ...] -> the kept rows, [M, ...].
  torch::Tensor Pack(const torch::Tensor& all) const {
    return kept_.defined() ? all.index_select(0, kept_) : all;
  }
  // [M, ...] -> [N S, ...], zeros in the rows left out.
  torch::Tensor Unpack(const torch::Tensor& kept) const {
    if (!kept_.defined()) return kept;
    std::vector<int64_t> shape = kept.sizes().vec();
    shape[0] = n_ * s_;
    return torch::zeros(shape, kept.options()).index_copy(0, kept_, kept);
  }
  // [M, ...] -> each sequence's read row, [N, ...].
  torch::Tensor ReadRowsOf(const torch::Tensor& kept) const {
    return kept.index_select(0, read_index_);
  }

 private:
  int64_t n_, s_, count_ = 0;
  torch::Tensor read_rows_;
  torch::Tensor kept_;        // [M] int64, n S + j of each kept row; undefined when all are kept
  torch::Tensor read_index_;  // [N] int64, each read row's index among the kept rows
};

// Attention for the rows of a shared-prefix block, q, k, v [P + M, W] (SuffixRows): the prefix
// attends to itself, each suffix position to the whole prefix and its own earlier positions.
// [P + M, W], or with `read_only` the read rows' alone, [N, W].
torch::Tensor SharedPrefixAttention(const Qkv& qkv, int64_t p, const SuffixRows& suffix, int heads,
                                    bool read_only) {
  const int64_t n = suffix.sequences(), s = suffix.positions(), w = qkv.q.size(-1);
  const Qkv own = qkv.Rows(p, suffix.count());
  // k or v for every suffix position: the shared prefix's, then its own (zeros where left out).
  auto keys = [&](const torch::Tensor& rows, const torch::Tensor& own_rows) {
    return torch::cat({SplitHeads(rows.narrow(0, 0, p), 1, p, heads).expand({n, -1, -1, -1}),
                       SplitHeads(suffix.Unpack(own_rows), n, s, heads)},
                      2);
  };
  const torch::Tensor k = keys(qkv.k, own.k), v = keys(qkv.v, own.v);
  if (read_only) {
    const torch::Tensor q = SplitHeads(suffix.ReadRowsOf(own.q), n, 1, heads);
    return MaskedAttention(q, k, v, FutureKeys(suffix.read_rows().view({n, 1}), p + s, -p))
        .view({n, w});
  }
  const torch::Tensor positions =
      torch::arange(s, suffix.read_rows().options().dtype(torch::kLong)).expand({n, s});
  const torch::Tensor suffix_attn = MaskedAttention(SplitHeads(suffix.Unpack(own.q), n, s, heads),
                                                    k, v, FutureKeys(positions, p + s, -p))
                                        .transpose(1, 2)
                                        .reshape({n * s, w});
  const torch::Tensor prefix_attn =
      Attention(qkv.Rows(0, p), 1, p, heads, /*causal=*/true).view({p, w});
  return torch::cat({prefix_attn, suffix.Pack(suffix_attn)});
}

// One causal block over the rows of sequences that share their first P positions: the prefix's
// P rows once, then the suffix rows SuffixRows keeps. Every row-wise step (LayerNorm, the four
// maps, the MLP) runs on them together. Returns the next residual stream over the same rows, its
// last add left undone; with `read_only`, over the read rows alone ([N, W], as BlockForward).
Residual SharedPrefixBlockForward(const BlockWeights& b, Residual in, int64_t p,
                                  const SuffixRows& suffix, int heads, Activation activation,
                                  const BlockAdapters* a, const PetRuntime& rt,
                                  const FusedKernels& fused, bool read_only) {
  const AddLayerNormOutput x = SumAndNorm(std::move(in), b.ln_1, fused);
  const Qkv qkv = AdaptedQkv(x.normed, b.qkv, a, rt, activation, fused);
  const torch::Tensor attn = SharedPrefixAttention(qkv, p, suffix, heads, read_only);
  torch::Tensor stream = read_only ? suffix.ReadRowsOf(x.sum.narrow(0, p, suffix.count())) : x.sum;
  return MlpResidual(
      b, {std::move(stream), AdaptedLinear(attn, b.out, a, kOut, rt, activation, fused)},
      activation, a, rt, fused);
}

}  // namespace

PackedLinear PackBlockLinear(const torch::Tensor& weight, const torch::Tensor& bias, BlockMap map,
                             Activation activation, bool for_backward) {
  const MapScales scales = ScalesOf(map, activation);
  const double scale = scales.in * scales.out;
  if (scale == 1 && scales.out == 1) return PackLinear(weight, bias, for_backward);
  PackedLinear packed =
      PackLinear(weight * scale, bias.defined() ? bias * scales.out : bias, for_backward);
  packed.scale = scale;
  return packed;
}

void PackTransformerForOneDnn(TransformerWeights& weights) {
  for (BlockWeights& b : weights.blocks) {
    const std::pair<LinearWeights*, BlockMap> maps[] = {{&b.qkv, BlockMap::kQkv},
                                                        {&b.out, BlockMap::kOut},
                                                        {&b.fc, BlockMap::kFc},
                                                        {&b.proj, BlockMap::kProj}};
    for (const auto& [w, map] : maps) {
      w->packed = PackBlockLinear(w->weight, w->bias, map, weights.activation,
                                  /*for_backward=*/true);
    }
  }
}

torch::Tensor LayerNorm(const torch::Tensor& x, const LayerNormWeights& w) {
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
    // CUDA's kernel accumulates in fp32 for bf16/fp16 inputs already; the casts around it would
    // add three full passes over the activations.
    return torch::layer_norm(x, {x.size(-1)}, w.weight.to(dtype), w.bias.to(dtype), 1e-5);
  }
  // The CPU normalises in fp32: one fused op where its kernels take x (the same arithmetic as
  // the casts below, without their passes over the rows).
  if (std::optional<AddLayerNormOutput> out =
          FusedAddLayerNorm(x, torch::Tensor(), w.weight, w.bias, 1e-5)) {
    return out->normed;
  }
  torch::Tensor y =
      torch::layer_norm(x.to(torch::kFloat32), {x.size(-1)}, w.weight.to(torch::kFloat32),
                        w.bias.to(torch::kFloat32), 1e-5);
  return y.to(dtype);
}

torch::Tensor TransformerForward(const TransformerWeights& weights, torch::Tensor x, bool causal,
                                 const std::vector<BlockAdapters>* adapters,
                                 const PetRuntime& runtime, const torch::Tensor& read_rows) {
  const bool use = adapters != nullptr && !adapters->empty() && runtime.options != nullptr;
  const size_t blocks = weights.blocks.size();
  Residual stream{std::move(x), torch::Tensor()};
  for (size_t i = 0; i < blocks; ++i) {
    YieldPoint();  // a learner step pauses here for queries (yield_point.h)
    stream = BlockForward(weights.blocks[i], std::move(stream), weights.heads, weights.activation,
                          causal, use ? &(*adapters)[i] : nullptr, runtime,
                          i + 1 == blocks ? read_rows : torch::Tensor(), weights.fused);
  }
  if (blocks == 0 && read_rows.defined()) return GatherRows(stream.x, read_rows);
  return stream.Sum();
}

torch::Tensor SharedPrefixTransformerForward(const TransformerWeights& weights,
                                             torch::Tensor prefix, torch::Tensor suffix,
                                             const std::vector<BlockAdapters>* adapters,
                                             const PetRuntime& runtime,
                                             const torch::Tensor& read_rows) {
  TORCH_CHECK(!weights.blocks.empty() && read_rows.defined() && read_rows.dim() == 1 &&
                  read_rows.size(0) == suffix.size(0),
              "SharedPrefixTransformerForward: needs blocks and one read row per suffix");
  const bool use = adapters != nullptr && !adapters->empty() && runtime.options != nullptr;
  const int64_t p = prefix.size(0), n = suffix.size(0), s = suffix.size(1), w = suffix.size(2);
  const SuffixRows suffix_rows(read_rows, s);
  Residual stream{torch::cat({prefix, suffix_rows.Pack(suffix.reshape({n * s, w}))}),
                  torch::Tensor()};
  for (size_t i = 0; i < weights.blocks.size(); ++i) {
    YieldPoint();
    stream = SharedPrefixBlockForward(weights.blocks[i], std::move(stream), p, suffix_rows,
                                      weights.heads, weights.activation,
                                      use ? &(*adapters)[i] : nullptr, runtime, weights.fused,
                                      /*read_only=*/i + 1 == weights.blocks.size());
  }
  return stream.Sum();
}

}  // namespace perennial
