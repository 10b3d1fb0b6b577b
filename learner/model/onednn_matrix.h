// File: learner/model/onednn_matrix.h
//
// A frozen fp32 or bf16 matrix kept in oneDNN's blocked layout, and the product x m^T (+ bias)
// with it on CPU. Debian's LibTorch multiplies fp32 with OpenBLAS, whose kernels on this
// machine's CPU run at ~190 GFLOP/s on 2 threads; oneDNN's AVX-512 kernels run the same GEMMs at
// 360-400. Its bf16 products (ATen's own bf16 path reorders the weight on every call) use
// AVX512-BF16's dot products where the CPU has them.
//
// Two builds (CMake picks): where oneDNN's headers are found (Debian: libdnnl-dev, the library
// Debian's LibTorch itself links), the matrix is reordered once into the layout oneDNN's matmul
// wants, and products read x and write y in place, in the tensors' own memory. Elsewhere
// (PyTorch's LibTorch bundles a private oneDNN without headers) it goes through ATen's
// mkldnn_linear, which converts x to and y from oneDNN tensors and the weight to the kernel's
// layout on every call: ~15% slower per product (bench/README.md); fp32 only there.
#ifndef PERENNIAL_LEARNER_MODEL_ONEDNN_MATRIX_H_
#define PERENNIAL_LEARNER_MODEL_ONEDNN_MATRIX_H_

#include <torch/torch.h>

#include <memory>

namespace perennial {

// True when products with packed matrices of `dtype` can run here.
bool OneDnnAvailable(torch::ScalarType dtype = torch::kFloat32);

// Immutable and cheap to copy (shared); safe to use from several threads at once.
class OneDnnMatrix {
 public:
  OneDnnMatrix() = default;

  // Packs `m` [rows, cols]: on CPU, a dtype OneDnnAvailable() accepts, any strides (pass W.t()
  // to pack W^T without a copy). Throws c10::Error when `m` is not such a tensor.
  static OneDnnMatrix Pack(const torch::Tensor& m);

  bool defined() const { return impl_ != nullptr; }
  int64_t rows() const;
  int64_t cols() const;
  torch::ScalarType dtype() const;

  // For autograd contexts, whose saved data are IValues.
  c10::IValue ToIValue() const;
  static OneDnnMatrix FromIValue(const c10::IValue& value);

  struct Impl;

 private:
  explicit OneDnnMatrix(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  friend torch::Tensor OneDnnProduct(const torch::Tensor&, const OneDnnMatrix&,
                                     const torch::Tensor&);

  std::shared_ptr<const Impl> impl_;
};

// x2d m^T + bias: x2d [n, m.cols()] of m.dtype() on CPU (copied if not contiguous), `bias`
// [m.rows()] (any float dtype, added in fp32) or undefined. Returns a new contiguous
// [n, m.rows()] tensor of m.dtype(); no autograd.
torch::Tensor OneDnnProduct(const torch::Tensor& x2d, const OneDnnMatrix& m,
                            const torch::Tensor& bias);

}  // namespace perennial

#endif  // PERENNIAL_LEARNER_MODEL_ONEDNN_MATRIX_H_
