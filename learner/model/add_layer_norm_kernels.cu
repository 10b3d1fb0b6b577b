#include "learner/model/add_layer_norm_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "learner/model/kernel_vectors.cuh"

namespace perennial::cuda_kernels {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // one warp per row
constexpr int kMaxVecsPerLane = 8;

__device__ inline float WarpSum(float v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T>
__device__ inline Vec<T> Load(const void* base, int64_t row_offset, int vec) {
  return reinterpret_cast<const Vec<T>*>(static_cast<const T*>(base) + row_offset)[vec];
}

template <typename T>
__device__ inline void Store(void* base, int64_t row_offset, int vec, const Vec<T>& value) {
  reinterpret_cast<Vec<T>*>(static_cast<T*>(base) + row_offset)[vec] = value;
}

// The row this thread's warp owns in [rows, width] of T, the thread's lane, and how many
// 16-byte vectors the row has.
template <typename T>
struct WarpRow {
  int64_t row;
  int lane;
  int vecs;
  int64_t offset;  // of the row's first element

  __device__ explicit WarpRow(int width)
      : row(static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp),
        lane(threadIdx.x % kWarp),
        vecs(width / Vec<T>::kSize),
        offset(row * width) {}
};

// Lane `lane`'s vectors of a row are lane, lane + 32, ...: consecutive lanes read consecutive
// 16-byte vectors (coalesced). Rows narrower than kVecs * 32 vectors leave the last ones idle.
template <typename T, int kVecs>
__global__ void __launch_bounds__(kWarp* kRowsPerBlock)
    AddLayerNormForwardKernel(const AddLayerNormForwardArgs a) {
  constexpr int kSize = Vec<T>::kSize;
  const WarpRow<T> w(a.width);
  if (w.row >= a.rows) return;
  float s[kVecs][kSize];
  float total = 0;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int vec = w.lane + i * kWarp;
    if (vec < w.vecs) {
      const Vec<T> x = Load<T>(a.x, w.offset, vec), b = Load<T>(a.branch, w.offset, vec);
      Vec<T> rounded;
#pragma unroll
      for (int j = 0; j < kSize; ++j) {
        rounded.v[j] = FromFloat<T>(ToFloat(x.v[j]) + ToFloat(b.v[j]));
        s[i][j] = ToFloat(rounded.v[j]);
        total += s[i][j];
      }
      Store<T>(a.sum, w.offset, vec, rounded);
    }
  }
  const float mean = WarpSum(total) / a.width;
  float squares = 0;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (w.lane + i * kWarp < w.vecs) {
#pragma unroll
      for (int j = 0; j < kSize; ++j) squares += (s[i][j] - mean) * (s[i][j] - mean);
    }
  }
  const float rstd = rsqrtf(WarpSum(squares) / a.width + a.eps);
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int vec = w.lane + i * kWarp;
    if (vec < w.vecs) {
      const Vec<T> gamma = Load<T>(a.gamma, 0, vec), beta = Load<T>(a.beta, 0, vec);
      Vec<T> out;
#pragma unroll
      for (int j = 0; j < kSize; ++j) {
        out.v[j] = FromFloat<T>((s[i][j] - mean) * rstd * ToFloat(gamma.v[j]) + ToFloat(beta.v[j]));
      }
      Store<T>(a.normed, w.offset, vec, out);
    }
  }
  if (w.lane == 0) {
    a.mean[w.row] = mean;
    a.rstd[w.row] = rstd;
  }
}

// dx = rstd (dy gamma - mean(dy gamma) - xhat mean(dy gamma xhat)), as ATen's LayerNorm
// backward, plus the residual's own gradient.
template <typename T, int kVecs>
__global__ void __launch_bounds__(kWarp* kRowsPerBlock)
    AddLayerNormBackwardKernel(const AddLayerNormBackwardArgs a) {
  constexpr int kSize = Vec<T>::kSize;
  const WarpRow<T> w(a.width);
  if (w.row >= a.rows) return;
  const float mean = a.mean[w.row], rstd = a.rstd[w.row];
  float xhat[kVecs][kSize], dy_gamma[kVecs][kSize];
  float sum_dy = 0, sum_dy_xhat = 0;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int vec = w.lane + i * kWarp;
    if (vec < w.vecs) {
      const Vec<T> s = Load<T>(a.sum, w.offset, vec), dy = Load<T>(a.grad_normed, w.offset, vec);
      const Vec<T> gamma = Load<T>(a.gamma, 0, vec);
#pragma unroll
      for (int j = 0; j < kSize; ++j) {
        xhat[i][j] = (ToFloat(s.v[j]) - mean) * rstd;
        dy_gamma[i][j] = ToFloat(dy.v[j]) * ToFloat(gamma.v[j]);
        sum_dy += dy_gamma[i][j];
        sum_dy_xhat += dy_gamma[i][j] * xhat[i][j];
      }
    }
  }
  const float mean_dy = WarpSum(sum_dy) / a.width;
  const float mean_dy_xhat = WarpSum(sum_dy_xhat) / a.width;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int vec = w.lane + i * kWarp;
    if (vec < w.vecs) {
      Vec<T> residual;
      if (a.grad_sum != nullptr) residual = Load<T>(a.grad_sum, w.offset, vec);
      Vec<T> out;
#pragma unroll
      for (int j = 0; j < kSize; ++j) {
        float dx = rstd * (dy_gamma[i][j] - mean_dy - xhat[i][j] * mean_dy_xhat);
        if (a.grad_sum != nullptr) dx += ToFloat(residual.v[j]);
        out.v[j] = FromFloat<T>(dx);
      }
      Store<T>(a.grad_x, w.offset, vec, out);
    }
  }
}

int VecsPerLane(ElementType type, int64_t width) {
  const int64_t size = type == ElementType::kFloat32 ? 4 : 8;  // elements per 16-byte vector
  if (width <= 0 || width % size != 0) return 0;
  const int64_t vecs = (width / size + kWarp - 1) / kWarp;
  return vecs <= kMaxVecsPerLane ? static_cast<int>(vecs) : 0;
}

unsigned BlocksFor(int64_t rows) {
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

template <typename T, int kVecs>
void Launch(const AddLayerNormForwardArgs& a, cudaStream_t stream) {
  AddLayerNormForwardKernel<T, kVecs><<<BlocksFor(a.rows), kWarp * kRowsPerBlock, 0, stream>>>(a);
}

template <typename T, int kVecs>
void Launch(const AddLayerNormBackwardArgs& a, cudaStream_t stream) {
  AddLayerNormBackwardKernel<T, kVecs><<<BlocksFor(a.rows), kWarp * kRowsPerBlock, 0, stream>>>(a);
}

template <typename T, typename Args>
void LaunchFor(const Args& a, int vecs, cudaStream_t stream) {
  switch (vecs) {
    case 1: return Launch<T, 1>(a, stream);
    case 2: return Launch<T, 2>(a, stream);
    case 3: return Launch<T, 3>(a, stream);
    case 4: return Launch<T, 4>(a, stream);
    case 5: return Launch<T, 5>(a, stream);
    case 6: return Launch<T, 6>(a, stream);
    case 7: return Launch<T, 7>(a, stream);
    default: return Launch<T, 8>(a, stream);
  }
}

template <typename Args>
cudaError_t LaunchAny(const Args& a, cudaStream_t stream) {
  const int vecs = VecsPerLane(a.type, a.width);
  if (vecs == 0) return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  switch (a.type) {
    case ElementType::kFloat32: LaunchFor<float>(a, vecs, stream); break;
    case ElementType::kFloat16: LaunchFor<__half>(a, vecs, stream); break;
    case ElementType::kBFloat16: LaunchFor<__nv_bfloat16>(a, vecs, stream); break;
  }
  return cudaGetLastError();
}

}  // namespace

bool AddLayerNormSupports(ElementType type, int64_t width) { return VecsPerLane(type, width) > 0; }

cudaError_t LaunchAddLayerNormForward(const AddLayerNormForwardArgs& args, cudaStream_t stream) {
  return LaunchAny(args, stream);
}

cudaError_t LaunchAddLayerNormBackward(const AddLayerNormBackwardArgs& args, cudaStream_t stream) {
  return LaunchAny(args, stream);
}

}  // namespace perennial::cuda_kernels
