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

// What a kernel does to each 16 bytes of g on the way into shared memory, and which products
// it takes of the result.
enum class Prologue {
  kNone,          // the LoRA gradient pass on g as it is
  kSiluBackward,  // the same on silu_backward(g, silu_input), written to g_out
  kSiluForward,   // silu(g) written to g_out, and only gt: the forward's SiLU and next map's t
};
__host__ __device__ constexpr bool ReadsSiluInput(Prologue p) {
  return p == Prologue::kSiluBackward;
}
__host__ __device__ constexpr bool TakesGb(Prologue p) { return p != Prologue::kSiluForward; }

__device__ inline uint4 Load16(const void* p) { return *static_cast<const uint4*>(p); }
__device__ inline void Store16(void* p, uint4 v) { *static_cast<uint4*>(p) = v; }

// SiLU's backward on 16 bytes of T: g s(u) (1 + u (1 - s(u))), s the logistic function, in fp32
// and rounded once, as ATen's silu_backward computes it, but with the hardware's approximate
// exponential and division (a few ulp in fp32, below a 16-bit result's rounding): the exact
// ones cost ~40 instructions per element, which made the pass bound by arithmetic (an H100,
// session 24: 1.05 ms for [100,864, 3072], against 0.22 ms for one read of g).
template <typename T>
__device__ inline uint4 SiluGrad(uint4 g_bits, uint4 u_bits) {
  Vec<T> g, u;
  memcpy(&g, &g_bits, sizeof(g));
  memcpy(&u, &u_bits, sizeof(u));
#pragma unroll
  for (int i = 0; i < Vec<T>::kSize; ++i) {
    const float x = ToFloat(u.v[i]), s = __fdividef(1.0f, 1.0f + __expf(-x));
    g.v[i] = FromFloat<T>(ToFloat(g.v[i]) * s * (1.0f + x * (1.0f - s)));
  }
  memcpy(&g_bits, &g, sizeof(g));
  return g_bits;
}

// SiLU on 16 bytes of T: u s(u), in fp32 with the same approximations, rounded once.
template <typename T>
__device__ inline uint4 Silu(uint4 u_bits) {
  Vec<T> u;
  memcpy(&u, &u_bits, sizeof(u));
#pragma unroll
  for (int i = 0; i < Vec<T>::kSize; ++i) {
    const float x = ToFloat(u.v[i]);
    u.v[i] = FromFloat<T>(__fdividef(x, 1.0f + __expf(-x)));
  }
  memcpy(&u_bits, &u, sizeof(u));
  return u_bits;
}

// The prologue's result for 16 bytes of g (and of SiLU's input, for kSiluBackward). Zeros give
// zeros either way, so that the zeros past g's ends add nothing.
template <typename T, Prologue kPrologue>
__device__ inline uint4 Transform(uint4 g_bits, uint4 silu_input_bits) {
  if constexpr (kPrologue == Prologue::kSiluBackward) return SiluGrad<T>(g_bits, silu_input_bits);
  if constexpr (kPrologue == Prologue::kSiluForward) return Silu<T>(g_bits);
  return g_bits;
}

// The chunk's products, shared by both kernels below once the chunk's g is in `g_tile` and
// its rows of B in `b_chunk`, all threads past the barrier that published them.
//
// gt: this warp's 32 rows times the chunk's 64 rows of B, accumulated across the chunks.
template <typename T>
__device__ inline void AccumulateGt(wmma::fragment<wmma::accumulator, 32, 8, 16, float>& gt_acc,
                                    const T* g_tile, const T* b_chunk, int warp) {
#pragma unroll
  for (int k = 0; k < kChunkCols / 16; ++k) {
    wmma::fragment<wmma::matrix_a, 32, 8, 16, T, wmma::row_major> g_rows;
    wmma::fragment<wmma::matrix_b, 32, 8, 16, T, wmma::row_major> b_rows;
    wmma::load_matrix_sync(g_rows, g_tile + warp * 32 * kTileLd + k * 16, kTileLd);
    wmma::load_matrix_sync(b_rows, b_chunk + k * 16 * kRank, kRank);
    wmma::mma_sync(gt_acc, g_rows, b_rows, gt_acc);
  }
}

// dst[0..3] += v with one atomic (a vector atomic on sm_90 and later); dst 16-byte aligned.
__device__ inline void AtomicAdd4(float* dst, float4 v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float4*>(dst), v);
#else
  atomicAdd(dst, v.x);
  atomicAdd(dst + 1, v.y);
  atomicAdd(dst + 2, v.z);
  atomicAdd(dst + 3, v.w);
#endif
}

// s gb of the chunk over the band, added into gb: columns [32 m, 32 m + 32) over band rows
// [64 q, 64 q + 64) per warp (g^T is the tile read column-major), then the four row groups of
// each column tile summed through `stage`, four ranks per atomic. Ends with `stage` still
// being read: the caller's next barrier must come before it is written.
template <typename T>
__device__ inline void WriteChunkGb(const LoraGradPassArgs& a, const T* g_tile, const T* t_band,
                                    float* stage, int c0, int warp) {
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
  static_assert(kRank == 8, "two float4 per column");
  for (int i = threadIdx.x; i < kChunkCols * 2; i += kThreads) {
    const int col = i / 2, rank0 = (i % 2) * 4, tile = col / 32, within = col % 32;
    float sum[4] = {0, 0, 0, 0};
#pragma unroll
    for (int group = 0; group < 4; ++group) {
      const float* part = stage + (group * 2 + tile) * 32 * kRank + within * kRank + rank0;
#pragma unroll
      for (int r = 0; r < 4; ++r) sum[r] += part[r];
    }
    if (c0 + col < a.cols) {
      AtomicAdd4(
          a.gb + (c0 + col) * kRank + rank0,
          make_float4(a.scale * sum[0], a.scale * sum[1], a.scale * sum[2], a.scale * sum[3]));
    }
  }
}

// The band's s gt, after the last chunk: each warp's accumulator through its part of `stage`,
// rounded once to T.
template <typename T>
__device__ inline void WriteGt(const LoraGradPassArgs& a,
                               const wmma::fragment<wmma::accumulator, 32, 8, 16, float>& gt_acc,
                               float* stage, int64_t row0, int warp, int lane) {
  __syncthreads();  // the last chunk's staging is read
  float* own_stage = stage + warp * 32 * kRank;
  wmma::store_matrix_sync(own_stage, gt_acc, kRank, wmma::mem_row_major);
  __syncwarp();
  for (int i = lane; i < 32 * kRank; i += 32) {
    const int64_t row = row0 + warp * 32 + i / kRank;
    if (row < a.rows) {
      static_cast<T*>(a.gt)[row * kRank + i % kRank] = FromFloat<T>(a.scale * own_stage[i]);
    }
  }
}

// The band's rows of t into shared memory, one row per thread; zeros past the end, which add
// nothing to gb (and whose gt is not written).
template <typename T>
__device__ inline void LoadTBand(const LoraGradPassArgs& a, T* t_band, int64_t row0) {
  const int64_t own_row = row0 + threadIdx.x;
  Store16(t_band + threadIdx.x * kRank, own_row < a.rows
                                            ? Load16(static_cast<const T*>(a.t) + own_row * kRank)
                                            : make_uint4(0, 0, 0, 0));
}

// Where this thread's k-th vector of the chunk at column c0 lies: its row in the band, its
// offset in a tile row, and whether it is inside g.
struct ChunkVector {
  int band_row;
  int tile_col;
  int64_t row;
  int col;
  bool inside;
};

__device__ inline ChunkVector VectorOf(const LoraGradPassArgs& a, int64_t row0, int c0, int k) {
  const int v = threadIdx.x + k * kThreads;
  ChunkVector at;
  at.band_row = v / kVecsPerRow;
  at.tile_col = (v % kVecsPerRow) * 8;
  at.row = row0 + at.band_row;
  at.col = c0 + at.tile_col;
  at.inside = at.row < a.rows && at.col < a.cols;
  return at;
}

// One chunk of g (and of SiLU's input) as this thread loads it into registers:
// kLoadsPerThread 16-byte vectors, zeros past the ends, and the chunk's row of B for the first
// kChunkCols threads.
template <bool kSilu>
struct ChunkLoads {
  uint4 g[kLoadsPerThread];
  uint4 silu_input[kSilu ? kLoadsPerThread : 1];
  uint4 b;
};

template <typename T, bool kSilu>
__device__ inline void LoadChunk(const LoraGradPassArgs& a, int64_t row0, int c0,
                                 ChunkLoads<kSilu>& loads) {
  const T* g = static_cast<const T*>(a.g);
  const T* silu_input = static_cast<const T*>(a.silu_input);
  const uint4 zero = make_uint4(0, 0, 0, 0);  // 0.0 in bf16 and fp16 alike
#pragma unroll
  for (int k = 0; k < kLoadsPerThread; ++k) {
    const ChunkVector at = VectorOf(a, row0, c0, k);
    loads.g[k] = at.inside ? Load16(g + at.row * a.cols + at.col) : zero;
    if constexpr (kSilu) {
      loads.silu_input[k] = at.inside ? Load16(silu_input + at.row * a.cols + at.col) : zero;
    }
  }
  const int b_row = c0 + threadIdx.x;
  loads.b = threadIdx.x < kChunkCols && b_row < a.cols
                ? Load16(static_cast<const T*>(a.b) + b_row * kRank)
                : zero;
}

// LoraGradPassPipeline::kStaged and kPrefetch: chunks through registers into one shared tile,
// through kPrologue on the way in. kPrefetch: the next chunk's loads are issued as soon as this
// chunk is in shared memory, so that they overlap its products instead of following them.
template <typename T, Prologue kPrologue, bool kPrefetch>
__global__ void __launch_bounds__(kThreads) LoraGradPassKernel(const LoraGradPassArgs a) {
  constexpr bool kSilu = ReadsSiluInput(kPrologue);
  extern __shared__ __align__(128) unsigned char shared[];
  T* g_tile = reinterpret_cast<T*>(shared);
  T* t_band = g_tile + kBandRows * kTileLd;
  T* b_chunk = t_band + kBandRows * kRank;
  float* stage = reinterpret_cast<float*>(b_chunk + kChunkCols * kRank);
  T* g_out = static_cast<T*>(a.g_out);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t band = blockIdx.x, row0 = band * kBandRows;
  if constexpr (TakesGb(kPrologue)) LoadTBand(a, t_band, row0);

  wmma::fragment<wmma::accumulator, 32, 8, 16, float> gt_acc;
  wmma::fill_fragment(gt_acc, 0.0f);
  // All loads of a chunk are issued before any is used; SiLU's inputs, when there, are used
  // after the barrier below, so that their loads overlap it too.
  ChunkLoads<kSilu> loads;
  if constexpr (kPrefetch) LoadChunk<T, kSilu>(a, row0, 0, loads);
  for (int c0 = 0; c0 < a.cols; c0 += kChunkCols) {
    if constexpr (!kPrefetch) LoadChunk<T, kSilu>(a, row0, c0, loads);
    __syncthreads();  // the previous chunk's tile and staging are no longer read
#pragma unroll
    for (int k = 0; k < kLoadsPerThread; ++k) {
      const ChunkVector at = VectorOf(a, row0, c0, k);
      if constexpr (kPrologue != Prologue::kNone) {
        loads.g[k] = Transform<T, kPrologue>(loads.g[k], loads.silu_input[kSilu ? k : 0]);
        if (at.inside) Store16(g_out + at.row * a.cols + at.col, loads.g[k]);
      }
      Store16(g_tile + at.band_row * kTileLd + at.tile_col, loads.g[k]);
    }
    if (threadIdx.x < kChunkCols) Store16(b_chunk + threadIdx.x * kRank, loads.b);
    __syncthreads();
    if constexpr (kPrefetch) {
      if (c0 + kChunkCols < a.cols) LoadChunk<T, kSilu>(a, row0, c0 + kChunkCols, loads);
    }
    AccumulateGt(gt_acc, g_tile, b_chunk, warp);
    if constexpr (TakesGb(kPrologue)) WriteChunkGb(a, g_tile, t_band, stage, c0, warp);
  }
  WriteGt<T>(a, gt_acc, stage, row0, warp, lane);
}

// 16 bytes from global to shared memory without passing through registers (sm_80 and later);
// zeros where !inside (the source is then not read). Completes at the matching AsyncWait.
__device__ inline void AsyncCopy16(void* shared_dst, const void* global_src, bool inside) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(global_src),
               "r"(inside ? 16 : 0));
#else
  Store16(shared_dst, inside ? Load16(global_src) : make_uint4(0, 0, 0, 0));
#endif
}

__device__ inline void AsyncCommit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Waits until at most kPending of this thread's committed copy groups are still in flight.
template <int kPending>
__device__ inline void AsyncWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

// Shared memory of the async-copy kernel, in bytes: two g tiles (and two of SiLU's input,
// unpadded: only the thread that copied a vector reads it), t's band, two chunks of B, and
// the fp32 staging.
template <bool kSilu>
constexpr size_t AsyncSharedBytes() {
  return 2 * (2 * kBandRows * kTileLd + (kSilu ? 2 * kBandRows * kChunkCols : 0) +
              kBandRows * kRank + 2 * kChunkCols * kRank) +
         sizeof(float) * kWarps * 32 * kRank;
}

// Issues the copies of chunk c0 into buffer `buffer` and commits them as one group.
template <typename T, bool kSilu>
__device__ inline void CopyChunk(const LoraGradPassArgs& a, int64_t row0, int c0, T* g_tile,
                                 T* u_tile, T* b_chunk) {
  const T* g = static_cast<const T*>(a.g);
  const T* silu_input = static_cast<const T*>(a.silu_input);
#pragma unroll
  for (int k = 0; k < kLoadsPerThread; ++k) {
    const ChunkVector at = VectorOf(a, row0, c0, k);
    const int64_t offset = at.inside ? at.row * a.cols + at.col : 0;
    AsyncCopy16(g_tile + at.band_row * kTileLd + at.tile_col, g + offset, at.inside);
    if constexpr (kSilu) {
      AsyncCopy16(u_tile + (threadIdx.x + k * kThreads) * 8, silu_input + offset, at.inside);
    }
  }
  if (threadIdx.x < kChunkCols) {
    const int b_row = c0 + threadIdx.x;
    const bool inside = b_row < a.cols;
    AsyncCopy16(b_chunk + threadIdx.x * kRank,
                static_cast<const T*>(a.b) + (inside ? b_row * kRank : 0), inside);
  }
  AsyncCommit();
}

// LoraGradPassPipeline::kAsyncCopy: chunks copied straight into two shared tiles, the next
// one in flight while this one's products are taken; no registers hold the loads.
template <typename T, Prologue kPrologue>
__global__ void __launch_bounds__(kThreads) LoraGradPassAsyncKernel(const LoraGradPassArgs a) {
  constexpr bool kSilu = ReadsSiluInput(kPrologue);
  extern __shared__ __align__(128) unsigned char shared[];
  T* g_tiles = reinterpret_cast<T*>(shared);       // [2][kBandRows][kTileLd]
  T* u_tiles = g_tiles + 2 * kBandRows * kTileLd;  // [2][kBandRows * kChunkCols] (kSilu)
  T* t_band = u_tiles + (kSilu ? 2 * kBandRows * kChunkCols : 0);
  T* b_chunks = t_band + kBandRows * kRank;  // [2][kChunkCols][kRank]
  float* stage = reinterpret_cast<float*>(b_chunks + 2 * kChunkCols * kRank);
  T* g_out = static_cast<T*>(a.g_out);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t band = blockIdx.x, row0 = band * kBandRows;
  if constexpr (TakesGb(kPrologue)) LoadTBand(a, t_band, row0);

  wmma::fragment<wmma::accumulator, 32, 8, 16, float> gt_acc;
  wmma::fill_fragment(gt_acc, 0.0f);
  CopyChunk<T, kSilu>(a, row0, 0, g_tiles, u_tiles, b_chunks);
  for (int c0 = 0, buffer = 0; c0 < a.cols; c0 += kChunkCols, buffer ^= 1) {
    // The other buffer was last read by the previous chunk's products, which every thread
    // finished before WriteChunkGb's barrier.
    if (c0 + kChunkCols < a.cols) {
      CopyChunk<T, kSilu>(a, row0, c0 + kChunkCols, g_tiles + (buffer ^ 1) * kBandRows * kTileLd,
                          u_tiles + (buffer ^ 1) * kBandRows * kChunkCols,
                          b_chunks + (buffer ^ 1) * kChunkCols * kRank);
    } else {
      AsyncCommit();  // an empty group, so that the wait below means the same every time
    }
    AsyncWait<1>();  // this thread's copies of this chunk have landed
    T* g_tile = g_tiles + buffer * kBandRows * kTileLd;
    if constexpr (kPrologue != Prologue::kNone) {
      // Each thread transforms the vectors it copied itself; zeros past the end stay zeros.
      const T* u_tile = u_tiles + buffer * kBandRows * kChunkCols;
#pragma unroll
      for (int k = 0; k < kLoadsPerThread; ++k) {
        const ChunkVector at = VectorOf(a, row0, c0, k);
        T* g_vec = g_tile + at.band_row * kTileLd + at.tile_col;
        const uint4 u = kSilu ? Load16(u_tile + (threadIdx.x + k * kThreads) * 8) : uint4{};
        const uint4 out = Transform<T, kPrologue>(Load16(g_vec), u);
        Store16(g_vec, out);
        if (at.inside) Store16(g_out + at.row * a.cols + at.col, out);
      }
    }
    __syncthreads();  // every thread's copies (transformed) of this chunk are visible
    AccumulateGt(gt_acc, g_tile, b_chunks + buffer * kChunkCols * kRank, warp);
    if constexpr (TakesGb(kPrologue)) WriteChunkGb(a, g_tile, t_band, stage, c0, warp);
    __syncthreads();  // staging read, and this buffer free for the copies two chunks on
  }
  WriteGt<T>(a, gt_acc, stage, row0, warp, lane);
}

// Launches `kernel` with `shared_bytes` of dynamic shared memory, one block per band.
template <typename Kernel>
cudaError_t LaunchKernel(Kernel kernel, size_t shared_bytes, const LoraGradPassArgs& a,
                         cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((a.rows + kBandRows - 1) / kBandRows);  // bands
  kernel<<<blocks, kThreads, shared_bytes, stream>>>(a);
  return cudaGetLastError();
}

// Above the 48 KiB a block gets without asking; set once per kernel (a cheap call).
template <typename Kernel>
cudaError_t AllowSharedBytes(Kernel kernel, size_t shared_bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(shared_bytes));
}

template <typename T, Prologue kPrologue>
cudaError_t LaunchWith(const LoraGradPassArgs& a, cudaStream_t stream) {
  switch (a.pipeline) {
    case LoraGradPassPipeline::kPrefetch: {
      static const cudaError_t configured =
          AllowSharedBytes(LoraGradPassKernel<T, kPrologue, true>, kSharedBytes);
      if (configured != cudaSuccess) return configured;
      return LaunchKernel(LoraGradPassKernel<T, kPrologue, true>, kSharedBytes, a, stream);
    }
    case LoraGradPassPipeline::kAsyncCopy: {
      constexpr size_t bytes = AsyncSharedBytes<ReadsSiluInput(kPrologue)>();
      static const cudaError_t configured =
          AllowSharedBytes(LoraGradPassAsyncKernel<T, kPrologue>, bytes);
      if (configured != cudaSuccess) return configured;
      return LaunchKernel(LoraGradPassAsyncKernel<T, kPrologue>, bytes, a, stream);
    }
    case LoraGradPassPipeline::kStaged: break;
  }
  static const cudaError_t configured =
      AllowSharedBytes(LoraGradPassKernel<T, kPrologue, false>, kSharedBytes);
  if (configured != cudaSuccess) return configured;
  return LaunchKernel(LoraGradPassKernel<T, kPrologue, false>, kSharedBytes, a, stream);
}

template <Prologue kPrologue>
cudaError_t LaunchForType(const LoraGradPassArgs& a, cudaStream_t stream) {
  return a.type == ElementType::kBFloat16 ? LaunchWith<__nv_bfloat16, kPrologue>(a, stream)
                                          : LaunchWith<__half, kPrologue>(a, stream);
}

}  // namespace

bool LoraGradPassSupports(ElementType type, int64_t cols, int64_t rank) {
  return type != ElementType::kFloat32 && cols > 0 && cols % 8 == 0 && rank == kRank;
}

cudaError_t LaunchLoraGradPass(const LoraGradPassArgs& args, cudaStream_t stream) {
  if (!LoraGradPassSupports(args.type, args.cols, kRank)) return cudaErrorInvalidValue;
  if ((args.silu_input == nullptr) != (args.g_out == nullptr)) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  return args.silu_input != nullptr ? LaunchForType<Prologue::kSiluBackward>(args, stream)
                                    : LaunchForType<Prologue::kNone>(args, stream);
}

cudaError_t LaunchSiluThinProduct(const SiluThinProductArgs& args, cudaStream_t stream) {
  if (!LoraGradPassSupports(args.type, args.cols, kRank)) return cudaErrorInvalidValue;
  if (args.rows == 0) return cudaSuccess;
  // The pass's kernels with g = u, B = A^T, gt = t and g_out = h; no t, gb or scale.
  LoraGradPassArgs pass;
  pass.type = args.type;
  pass.g = args.u;
  pass.b = args.a_t;
  pass.gt = args.t;
  pass.g_out = args.h;
  pass.pipeline = args.pipeline;
  pass.rows = args.rows;
  pass.cols = args.cols;
  return LaunchForType<Prologue::kSiluForward>(pass, stream);
}

}  // namespace perennial::cuda_kernels
