#include "bench/graphed_image_tower.h"

#include <string>
#include <utility>
#include <vector>

#if PERENNIAL_BENCH_CUDA_GRAPHS
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/cuda.h>
#endif

namespace perennial::bench {
#if PERENNIAL_BENCH_CUDA_GRAPHS
namespace {

// The image tower's adapter tensors: the inputs of the captured backward.
std::vector<torch::Tensor> ImageTowerTensors(const Adapters& adapters) {
  std::vector<torch::Tensor> tensors;
  for (const auto& [name, tensor] : adapters.NamedTensors()) {
    if (name.rfind("visual.", 0) == 0 && tensor.requires_grad()) tensors.push_back(tensor);
  }
  return tensors;
}

// Records what `fn` queues into `graph`. When `fn` throws (out of memory is the usual cause:
// the graphs' pool holds a second copy of the step's activations), the capture is ended before
// the exception leaves, so that the stream leaves capture mode; otherwise the caller's next
// synchronising op would fail with "operation not permitted when stream is capturing" and
// abort the run.
template <typename Pool, typename Fn>
void CaptureInto(at::cuda::CUDAGraph& graph, const Pool& pool, Fn&& fn) {
  graph.capture_begin(pool);
  try {
    fn();
  } catch (...) {
    try {
      graph.capture_end();  // ends the capture; throws as the captured graph is incomplete
    } catch (const c10::Error&) {
    }
    throw;
  }
  graph.capture_end();
}

}  // namespace

struct GraphedImageTower::Impl {
  at::cuda::CUDAGraph forward_graph, backward_graph;
  torch::Tensor features;       // the forward graph's output, with the captured autograd graph
  torch::Tensor features_grad;  // the backward graph's input
  std::vector<torch::Tensor> tensors, grads;  // adapter tensors and the backward's outputs
};

std::unique_ptr<GraphedImageTower> GraphedImageTower::Capture(const ClipModel& model,
                                                              const Adapters& adapters,
                                                              const torch::Tensor& pixels) {
  TORCH_CHECK(pixels.is_cuda(), "GraphedImageTower: the pixels must be on a CUDA device");
  auto impl = std::make_unique<Impl>();
  impl->tensors = ImageTowerTensors(adapters);
  TORCH_CHECK(!impl->tensors.empty(), "GraphedImageTower: the image tower has no adapters");
  auto backward = [&](const torch::Tensor& features, const torch::Tensor& grad) {
    return torch::autograd::grad({features}, impl->tensors, {grad}, /*retain_graph=*/true,
                                 /*create_graph=*/false, /*allow_unused=*/true);
  };
  torch::cuda::synchronize();
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  {
    const c10::cuda::CUDAStreamGuard guard(side);
    for (int i = 0; i < 3; ++i) {
      const torch::Tensor features = model.EncodeImage(pixels, &adapters, /*training=*/true);
      backward(features, torch::ones_like(features));
    }
    side.synchronize();
    const auto pool = at::cuda::graph_pool_handle();
    CaptureInto(impl->forward_graph, pool,
                [&] { impl->features = model.EncodeImage(pixels, &adapters, /*training=*/true); });
    impl->features_grad = torch::zeros_like(impl->features);
    CaptureInto(impl->backward_graph, pool,
                [&] { impl->grads = backward(impl->features, impl->features_grad); });
  }
  torch::cuda::synchronize();
  return std::unique_ptr<GraphedImageTower>(new GraphedImageTower(std::move(impl)));
}

torch::Tensor GraphedImageTower::Forward() {
  impl_->forward_graph.replay();
  return impl_->features.detach().requires_grad_(true);
}

void GraphedImageTower::Backward(const torch::Tensor& features_grad) {
  impl_->features_grad.copy_(features_grad);
  impl_->backward_graph.replay();
  for (size_t i = 0; i < impl_->tensors.size(); ++i) {
    if (impl_->grads[i].defined()) impl_->tensors[i].mutable_grad() = impl_->grads[i];
  }
}

#else  // LibTorch without CUDA

struct GraphedImageTower::Impl {};

std::unique_ptr<GraphedImageTower> GraphedImageTower::Capture(const ClipModel&, const Adapters&,
                                                              const torch::Tensor&) {
  TORCH_CHECK(false, "GraphedImageTower: this LibTorch has no CUDA graphs");
}

torch::Tensor GraphedImageTower::Forward() { return torch::Tensor(); }

void GraphedImageTower::Backward(const torch::Tensor&) {}

#endif

GraphedImageTower::GraphedImageTower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GraphedImageTower::~GraphedImageTower() = default;

}  // namespace perennial::bench
