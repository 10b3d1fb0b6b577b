#include "learner/model/lora_grad_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <cstring>

#include "learner/model/kernel_vectors.cuh"

namespace perennial::cuda_kernels {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kRank = kLoraGradRank;
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kBandRows = 256;               // rows of g per block: one per thread for t
constexpr int kChunkCols = 64;               // columns of g staged at a time: 128-byte rows
constexpr int kTileLd = kChunkCols + 8;      // shared row stride (elements), against conflicts
constexpr int kVecsPerRow = kChunkCols / 8;  // 16-byte vectors per staged row
constexpr int kLoadsPerThread = kBandRows * kVecsPerRow / kThreads;
static_assert(kThreads == kBandRows, "one thread stages one row of t");
static_assert(kWarps * 32 == kBandRows, "each warp owns 32 rows of gt");
static_assert(kWarps == 2 * (kBandRows / 64), "gb: 2 column tiles x 4 row groups of 64");

// Shared memory of one block, in bytes: the g tile, t's band, B's chunk, and fp32 staging.
constexpr size_t kSharedBytes = 2 * (kBandRows * kTileLd + kBandRows * kRank + kChunkCols * kRank) +
                                sizeof(float) * kWarps * 32 * kRank;

__device__ inline uint4 Load16(const void* p) { return *static_cast<const uint4*>(p); }
__device__ inline void Store16(void* p, uint4 v) { *static_cast<uint4*>(p) = v; }

// SiLU's backward on 16 bytes of T: g s(u) (1 + u (1 - s(u))), s the logistic function, in fp32
// and rounded once, as ATen's silu_backward computes it.
template <typename T>
__device__ inline uint4 SiluGrad(uint4 g_bits, uint4 u_bits) {
  Vec<T> g, u;
  memcpy(&g, &g_bits, sizeof(g));
  memcpy(&u, &u_bits, sizeof(u));
#pragma unroll
  for (int i = 0; i < Vec<T>::kSize; ++i) {
    const float x = ToFloat(u.v[i]), s = 1.0f / (1.0f + expf(-x));
    g.v[i] = FromFloat<T>(ToFloat(g.v[i]) * s * (1.0f + x * (1.0f - s)));
  }
  memcpy(&g_bits, &g, sizeof(g));
  return g_bits;
}

// kSilu: g is SiLU's output gradient, turned into its input's gradient on the way in
// (LoraGradPassArgs::silu_input).
template <typename T, bool kSilu>
__global__ void __launch_bounds__(kThreads) LoraGradPassKernel(const LoraGradPassArgs a) {
  extern __shared__ __align__(128) unsigned char shared[];
  T* g_tile = reinterpret_cast<T*>(shared);
  T* t_band = g_tile + kBandRows * kTileLd;
  T* b_chunk = t_band + kBandRows * kRank;
  float* stage = reinterpret_cast<float*>(b_chunk + kChunkCols * kRank);
  const T* g = static_cast<const T*>(a.g);
  const T* b = static_cast<const T*>(a.b);
  const T* t = static_cast<const T*>(a.t);
  const T* silu_input = static_cast<const T*>(a.silu_input);
  T* g_out = static_cast<T*>(a.g_out);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t band = blockIdx.x, row0 = band * kBandRows;
  const uint4 zero = make_uint4(0, 0, 0, 0);  // 0.0 in bf16 and fp16 alike

  // Rows past the end are zeros: they add nothing to gb, and their gt is not written.
  const int64_t own_row = row0 + threadIdx.x;
  Store16(t_band + threadIdx.x * kRank, own_row < a.rows ? Load16(t + own_row * kRank) : zero);

  wmma::fragment<wmma::accumulator, 32, 8, 16, float> gt_acc;
  wmma::fill_fragment(gt_acc, 0.0f);
  for (int c0 = 0; c0 < a.cols; c0 += kChunkCols) {
    // All loads of the chunk are issued before any is used; SiLU's inputs, when there, are
    // used after the barrier below, so that their loads overlap it too.
    uint4 staged[kLoadsPerThread], staged_input[kSilu ? kLoadsPerThread : 1];
#pragma unroll
    for (int k = 0; k < kLoadsPerThread; ++k) {
      const int v = threadIdx.x + k * kThreads, r = v / kVecsPerRow,
                col = c0 + (v % kVecsPerRow) * 8;
      const int64_t row = row0 + r;
      const bool inside = row < a.rows && col < a.cols;
      staged[k] = inside ? Load16(g + row * a.cols + col) : zero;
      if constexpr (kSilu) {
        staged_input[k] = inside ? Load16(silu_input + row * a.cols + col) : zero;
      }
    }
    const int b_row = c0 + threadIdx.x;
    const uint4 b_vec =
        threadIdx.x < kChunkCols && b_row < a.cols ? Load16(b + b_row * kRank) : zero;
    __syncthreads();  // the previous chunk's tile and staging are no longer read
#pragma unroll
    for (int k = 0; k < kLoadsPerThread; ++k) {
      const int v = threadIdx.x + k * kThreads, r = v / kVecsPerRow,
                col = c0 + (v % kVecsPerRow) * 8;
      if constexpr (kSilu) {
        // Rows and columns past the end hold zeros, whose gradient is zero too.
        staged[k] = SiluGrad<T>(staged[k], staged_input[k]);
        const int64_t row = row0 + r;
        if (row < a.rows && col < a.cols) Store16(g_out + row * a.cols + col, staged[k]);
      }
      Store16(g_tile + r * kTileLd + (v % kVecsPerRow) * 8, staged[k]);
    }
    if (threadIdx.x < kChunkCols) Store16(b_chunk + threadIdx.x * kRank, b_vec);
    __syncthreads();

    // gt: this warp's 32 rows times the chunk's 64 rows of B.
#pragma unroll
    for (int k = 0; k < kChunkCols / 16; ++k) {
      wmma::fragment<wmma::matrix_a, 32, 8, 16, T, wmma::row_major> g_rows;
      wmma::fragment<wmma::matrix_b, 32, 8, 16, T, wmma::row_major> b_rows;
      wmma::load_matrix_sync(g_rows, g_tile + warp * 32 * kTileLd + k * 16, kTileLd);
      wmma::load_matrix_sync(b_rows, b_chunk + k * 16 * kRank, kRank);
      wmma::mma_sync(gt_acc, g_rows, b_rows, gt_acc);
    }
    // gb: columns [32 m, 32 m + 32) of the chunk over band rows [64 q, 64 q + 64); g^T is the
    // tile read column-major.
    const int m = warp % 2, q = warp / 2;
    wmma::fragment<wmma::accumulator, 32, 8, 16, float> gb_acc;
    wmma::fill_fragment(gb_acc, 0.0f);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int r = q * 64 + k * 16;
      wmma::fragment<wmma::matrix_a, 32, 8, 16, T, wmma::col_major> g_cols;
      wmma::fragment<wmma::matrix_b, 32, 8, 16, T, wmma::row_major> t_rows;
      wmma::load_matrix_sync(g_cols, g_tile + r * kTileLd + m * 32, kTileLd);
      wmma::load_matrix_sync(t_rows, t_band + r * kRank, kRank);
      wmma::mma_sync(gb_acc, g_cols, t_rows, gb_acc);
    }
    wmma::store_matrix_sync(stage + warp * 32 * kRank, gb_acc, kRank, wmma::mem_row_major);
    __syncthreads();
    // The chunk's gb over the band: the four row groups of each column tile summed.
    for (int i = threadIdx.x; i < kChunkCols * kRank; i += kThreads) {
      const int col = i / kRank, rank = i % kRank, tile = col / 32, within = col % 32;
      float sum = 0;
#pragma unroll
      for (int group = 0; group < 4; ++group) {
        sum += stage[(group * 2 + tile) * 32 * kRank + within * kRank + rank];
      }
      if (c0 + col < a.cols) a.gb_partial[(band * a.cols + c0 + col) * kRank + rank] = sum;
    }
  }
  __syncthreads();  // the last chunk's staging is read
  float* own_stage = stage + warp * 32 * kRank;
  wmma::store_matrix_sync(own_stage, gt_acc, kRank, wmma::mem_row_major);
  __syncwarp();
  for (int i = lane; i < 32 * kRank; i += 32) {
    const int64_t row = row0 + warp * 32 + i / kRank;
    if (row < a.rows) a.gt[row * kRank + i % kRank] = own_stage[i];
  }
}

template <typename T, bool kSilu>
cudaError_t Launch(const LoraGradPassArgs& a, cudaStream_t stream) {
  // Above the 48 KiB a block gets without asking; set once per kernel (a cheap call).
  static const cudaError_t configured = cudaFuncSetAttribute(
      LoraGradPassKernel<T, kSilu>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
  if (configured != cudaSuccess) return configured;
  const auto blocks = static_cast<unsigned>(LoraGradPassBands(a.rows));
  LoraGradPassKernel<T, kSilu><<<blocks, kThreads, kSharedBytes, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchFor(const LoraGradPassArgs& a, cudaStream_t stream) {
  return a.silu_input != nullptr ? Launch<T, true>(a, stream) : Launch<T, false>(a, stream);
}

}  // namespace

int64_t LoraGradPassBands(int64_t rows) { return (rows + kBandRows - 1) / kBandRows; }

bool LoraGradPassSupports(ElementType type, int64_t cols, int64_t rank) {
  return type != ElementType::kFloat32 && cols > 0 && cols % 8 == 0 && rank == kRank;
}

cudaError_t LaunchLoraGradPass(const LoraGradPassArgs& args, cudaStream_t stream) {
  if (!LoraGradPassSupports(args.type, args.cols, kRank)) return cudaErrorInvalidValue;
  if ((args.silu_input == nullptr) != (args.g_out == nullptr)) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  return args.type == ElementType::kBFloat16 ? LaunchFor<__nv_bfloat16>(args, stream)
                                             : LaunchFor<__half>(args, stream);
}

}  // namespace perennial::cuda_kernels
