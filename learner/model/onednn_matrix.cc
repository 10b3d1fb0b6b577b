#include "learner/model/onednn_matrix.h"

#include <ATen/Context.h>
#include <ATen/record_function.h>

#include <utility>

#if PERENNIAL_ONEDNN_DIRECT
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace perennial {
#if PERENNIAL_ONEDNN_DIRECT

// The matrix in the blocked layout that oneDNN's matmul picks for weights [cols, rows] (it does
// not depend on the number of rows of x: checked at every product, reordered if it ever did).
struct OneDnnMatrix::Impl {
  int64_t rows = 0, cols = 0;
  torch::ScalarType dtype = torch::kFloat32;  // of the matrix, x and y
  dnnl::memory::desc packed_desc;
  torch::Tensor storage;  // packed_desc.get_size() bytes; ATen's CPU allocator aligns to 64
};

namespace {

using Dims = dnnl::memory::dims;
using DataType = dnnl::memory::data_type;
using Tag = dnnl::memory::format_tag;

const dnnl::engine& CpuEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// In-order CPU streams run primitives synchronously on the calling thread, whose OpenMP thread
// count (LibTorch's intra-op setting) oneDNN uses.
dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

DataType DataTypeOf(torch::ScalarType dtype) {
  return dtype == torch::kBFloat16 ? DataType::bf16 : DataType::f32;
}

dnnl::memory::desc RowMajor(int64_t rows, int64_t cols, DataType type) {
  return dnnl::memory::desc(Dims{rows, cols}, type, Tag::ab);
}

// The matmul for x [n, k] times weights [k, m], x, weights and y of `type`, the bias fp32
// (oneDNN accumulates bf16 products in fp32 and adds an fp32 bias before rounding y). The
// scratchpad is the caller's (user mode), so that one primitive may run on several threads at
// once.
dnnl::matmul::primitive_desc ProductDesc(int64_t n, int64_t k, int64_t m, bool bias,
                                         DataType type) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::memory::desc weights(Dims{k, m}, type, Tag::any);
  const dnnl::matmul::desc desc =
      bias ? dnnl::matmul::desc(RowMajor(n, k, type), weights, RowMajor(1, m, DataType::f32),
                                RowMajor(n, m, type))
           : dnnl::matmul::desc(RowMajor(n, k, type), weights, RowMajor(n, m, type));
  return dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
}

// Copies `from` (described by `from_desc`) into a new tensor laid out as `to_desc`.
torch::Tensor Reorder(const dnnl::memory::desc& from_desc, void* from,
                      const dnnl::memory::desc& to_desc) {
  torch::Tensor storage = torch::empty({static_cast<int64_t>(to_desc.get_size())}, torch::kByte);
  dnnl::memory source(from_desc, CpuEngine(), from);
  dnnl::memory target(to_desc, CpuEngine(), storage.data_ptr());
  dnnl::reorder(source, target).execute(ThreadStream(), source, target);
  ThreadStream().wait();
  return storage;
}

torch::Tensor RunProduct(const torch::Tensor& x, const OneDnnMatrix::Impl& m,
                         const torch::Tensor& bias) {
  const int64_t n = x.size(0);
  torch::Tensor y = torch::empty({n, m.rows}, x.options());
  if (n == 0) return y;
  const auto pd = ProductDesc(n, m.cols, m.rows, bias.defined(), DataTypeOf(m.dtype));
  torch::Tensor weights = m.storage;
  if (pd.weights_desc() != m.packed_desc) {
    weights = Reorder(m.packed_desc, m.storage.data_ptr(), pd.weights_desc());
  }
  torch::Tensor scratchpad =
      torch::empty({static_cast<int64_t>(pd.scratchpad_desc().get_size())}, torch::kByte);
  const dnnl::engine& engine = CpuEngine();
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, dnnl::memory(pd.src_desc(), engine, x.data_ptr())},
      {DNNL_ARG_WEIGHTS, dnnl::memory(pd.weights_desc(), engine, weights.data_ptr())},
      {DNNL_ARG_DST, dnnl::memory(pd.dst_desc(), engine, y.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), engine, scratchpad.data_ptr())}};
  if (bias.defined()) {
    args.emplace(DNNL_ARG_BIAS, dnnl::memory(pd.bias_desc(), engine, bias.data_ptr()));
  }
  dnnl::matmul(pd).execute(ThreadStream(), args);
  ThreadStream().wait();
  return y;
}

std::shared_ptr<const OneDnnMatrix::Impl> PackImpl(const torch::Tensor& m) {
  auto impl = std::make_shared<OneDnnMatrix::Impl>();
  impl->rows = m.size(0);
  impl->cols = m.size(1);
  impl->dtype = m.scalar_type();
  const DataType type = DataTypeOf(impl->dtype);
  try {
    impl->packed_desc = ProductDesc(1, impl->cols, impl->rows, false, type).weights_desc();
    // m^T as the [cols, rows] weights, read through m's own strides.
    const dnnl::memory::desc transposed(Dims{impl->cols, impl->rows}, type,
                                        Dims{m.stride(1), m.stride(0)});
    impl->storage = Reorder(transposed, m.data_ptr(), impl->packed_desc);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "OneDnnMatrix: packing a ", m.sizes(), " matrix failed: ", e.what());
  }
  return impl;
}

torch::Tensor ProductImpl(const torch::Tensor& x2d, const OneDnnMatrix::Impl& m,
                          const torch::Tensor& bias) {
  try {
    return RunProduct(x2d.contiguous(), m, bias);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "OneDnnProduct: [", x2d.size(0), ", ", m.cols, "] x [", m.cols, ", ", m.rows,
                "] failed: ", e.what());
  }
}

}  // namespace

bool OneDnnAvailable(torch::ScalarType dtype) {
  if (dtype == torch::kFloat32) return true;
  if (dtype != torch::kBFloat16) return false;
  // oneDNN 2.x multiplies bf16 on AVX-512 CPUs only (emulating the dot products where
  // AVX512-BF16 is missing); asked once, by describing a small product.
  static const bool supported = [] {
    try {
      ProductDesc(1, 16, 16, /*bias=*/false, DataType::bf16);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return supported;
}

#else  // ATen's mkldnn_linear

struct OneDnnMatrix::Impl {
  int64_t rows = 0, cols = 0;
  torch::ScalarType dtype = torch::kFloat32;
  torch::Tensor packed;  // MKLDNN tensor [rows, cols]
};

// fp32 only: the bf16 path of mkldnn_linear has not been measured or tested against.
bool OneDnnAvailable(torch::ScalarType dtype) {
  return dtype == torch::kFloat32 && at::hasMKLDNN();
}

namespace {

std::shared_ptr<const OneDnnMatrix::Impl> PackImpl(const torch::Tensor& m) {
  TORCH_CHECK(OneDnnAvailable(m.scalar_type()), "OneDnnMatrix: this LibTorch has no oneDNN ",
              "products for ", m.scalar_type());
  torch::NoGradGuard no_grad;
  auto impl = std::make_shared<OneDnnMatrix::Impl>();
  impl->rows = m.size(0);
  impl->cols = m.size(1);
  impl->dtype = m.scalar_type();
  impl->packed = m.contiguous().to_mkldnn();
  return impl;
}

torch::Tensor ProductImpl(const torch::Tensor& x2d, const OneDnnMatrix::Impl& m,
                          const torch::Tensor& bias) {
  c10::optional<torch::Tensor> b;
  if (bias.defined()) b = bias.to_mkldnn();
  return at::mkldnn_linear(x2d.contiguous().to_mkldnn(), m.packed, b).to_dense();
}

}  // namespace

#endif

OneDnnMatrix OneDnnMatrix::Pack(const torch::Tensor& m) {
  TORCH_CHECK(m.dim() == 2 && m.device().is_cpu() && OneDnnAvailable(m.scalar_type()),
              "OneDnnMatrix: needs a 2-D CPU matrix of a dtype oneDNN multiplies here (fp32, "
              "bf16 where built with oneDNN's headers), got ",
              m.sizes(), " ", m.scalar_type(), " on ", m.device());
  return OneDnnMatrix(PackImpl(m));
}

int64_t OneDnnMatrix::rows() const { return impl_->rows; }

int64_t OneDnnMatrix::cols() const { return impl_->cols; }

torch::ScalarType OneDnnMatrix::dtype() const { return impl_->dtype; }

torch::Tensor OneDnnProduct(const torch::Tensor& x2d, const OneDnnMatrix& m,
                            const torch::Tensor& bias) {
  TORCH_CHECK(m.defined(), "OneDnnProduct: the matrix is not packed");
  // A profiler (perennial-bench --trace) sees the product as an op of its own, not as time
  // between ATen ops.
  RECORD_FUNCTION("perennial::onednn_product", std::vector<c10::IValue>());
  TORCH_CHECK(x2d.dim() == 2 && x2d.size(1) == m.cols() && x2d.device().is_cpu() &&
                  x2d.scalar_type() == m.dtype(),
              "OneDnnProduct: x must be ", m.dtype(), " [n, ", m.cols(), "] on CPU, got ",
              x2d.sizes(), " ", x2d.scalar_type());
  const torch::Tensor b = bias.defined() ? bias.to(torch::kFloat32).contiguous() : bias;
  TORCH_CHECK(!b.defined() || b.numel() == m.rows(), "OneDnnProduct: bias of ", b.numel(), " for ",
              m.rows(), " outputs");
  return ProductImpl(x2d, *m.impl_, b);
}

namespace {

// An IValue capsule's payload.
struct MatrixCapsule : torch::CustomClassHolder {
  std::shared_ptr<const OneDnnMatrix::Impl> impl;
};

}  // namespace

c10::IValue OneDnnMatrix::ToIValue() const {
  TORCH_CHECK(defined(), "OneDnnMatrix: the matrix is not packed");
  auto capsule = c10::make_intrusive<MatrixCapsule>();
  capsule->impl = impl_;
  return c10::IValue::make_capsule(std::move(capsule));
}

OneDnnMatrix OneDnnMatrix::FromIValue(const c10::IValue& value) {
  return OneDnnMatrix(c10::static_intrusive_pointer_cast<MatrixCapsule>(value.toCapsule())->impl);
}

}  // namespace perennial
