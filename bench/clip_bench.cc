#include "bench/clip_bench.h"

#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <vector>

#include "bench/bench_util.h"
#include "bench/clip_flops.h"
#include "bench/graphed_image_tower.h"
#include "bench/profiler_trace.h"
#include "learner/base/cpu_runtime.h"
#include "learner/base/trace_phase.h"
#include "learner/model/clip_init.h"
#include "learner/model/clip_model.h"
#include "learner/model/pet.h"
#include "learner/model/tokenizer.h"
#include "learner/model/zero_shot.h"
#include "learner/online/fused_adamw.h"
#include "learner/online/sharded_image_encoder.h"

namespace perennial::bench {
namespace {

// Fashion-MNIST's classes: ten realistic label texts.
const std::vector<std::string> kLabels = {"T-shirt/top", "trouser",   "pullover", "dress",
                                          "coat",        "sandal",    "shirt",    "sneaker",
                                          "bag",         "ankle boot"};

// Figures of the peer (reference CLIP in PyTorch eager, this 2-core machine, OpenBLAS, batch 16,
// 2 threads, ViT-B/32) and the goals of the performance issue: 2x the peer.
constexpr double kPeerInferImagesPerS = 13.75;
constexpr double kPeerSitImagesPerS = 5.31;

std::string ShortName(const std::string& architecture) {
  std::string out;
  for (char c : architecture) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(c));
  }
  return out;  // "ViT-B/32" -> "vitb32"
}

torch::Tensor LabelTokens(const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                          int context_length) {
  std::vector<std::vector<int32_t>> ids;
  for (const auto& label : labels) {
    ids.push_back(tokenizer.Tokenize("a photo of a " + label + ".", context_length));
  }
  return TokensToTensor(ids, context_length);
}

// `flops` is the work of one timed step (clip_flops.h says what it counts).
// Positions the text tower runs for `tokens`: up to the longest EOT (the largest id), inclusive.
int64_t LongestTokenRun(const torch::Tensor& tokens) {
  return tokens.argmax(-1).max().item<int64_t>() + 1;
}

// The SIT loss: cross-entropy of the images against the texts of the classes present.
// `image_features` are the image tower's outputs (computed by the caller, possibly in parts).
torch::Tensor SitLoss(const ClipModel& model, const Adapters& adapters,
                      const torch::Tensor& image_features, const torch::Tensor& class_tokens,
                      const torch::Tensor& labels) {
  namespace F = torch::nn::functional;
  const torch::Tensor image = F::normalize(image_features, F::NormalizeFuncOptions().dim(-1));
  const torch::Tensor text = F::normalize(model.EncodeText(class_tokens, &adapters, true),
                                          F::NormalizeFuncOptions().dim(-1));
  return F::cross_entropy(model.LogitScale() * torch::matmul(image, text.t()), labels);
}

void Report(const std::string& name, const ClipBenchOptions& o, const Timing& t, double flops,
            double peer) {
  const double images_per_s = o.run.batch * 1000.0 / t.mean_ms;
  const double tflop_per_s = flops / (t.mean_ms * 1e-3) / 1e12;
  const bool cpu_peer = o.architecture == "ViT-B/32" && o.run.device == "cpu";
  std::vector<Field> fields = {Num("images_per_s", images_per_s),
                               Num("ms_per_step", t.mean_ms),
                               Num("min_ms_per_step", t.min_ms),
                               Num("median_ms_per_step", t.median_ms),
                               Num("gflop_per_image", flops / o.run.batch / 1e9),
                               Num("tflop_per_s", tflop_per_s)};
  if (o.peak_tflops > 0) {
    fields.push_back(Num("peak_tflop_per_s", o.peak_tflops));
    fields.push_back(Num("mfu", tflop_per_s / o.peak_tflops));
  }
  if (t.device_peak_mib >= 0) fields.push_back(Num("device_peak_mib", t.device_peak_mib));
  for (Field& f : RunFields(o.run)) fields.push_back(std::move(f));
  if (cpu_peer) {
    fields.push_back(Num("peer_images_per_s", peer));
    fields.push_back(Num("goal_images_per_s", 2 * peer));
  }
  PrintRecord(name, fields);
}

// `tensors` flattened and joined into one fp32 CPU vector (for gradient cosines).
torch::Tensor FlattenToCpu(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& t : tensors) {
    flat.push_back(t.reshape(-1).to(torch::kCPU, torch::kFloat32));
  }
  return torch::cat(flat);
}

// Cosine between the adapters' SIT-loss gradients on `model`'s device and on the fp32 CPU
// `reference` (same weights), for `pixels` against the first 5 classes: checks the training
// path's backward (its CUDA kernels, bf16, the LoRA node) the way the cosines below check the
// forward.
double SitGradientCosine(const ClipModel& model, const Adapters& adapters,
                         const ClipModel& reference, const torch::Tensor& pixels,
                         const torch::Tensor& label_tokens) {
  const torch::Tensor tokens = label_tokens.narrow(0, 0, 5);
  const torch::Tensor labels = torch::arange(pixels.size(0)) % 5;
  // On the CPU side the inputs are the copies of the device's adapters (non-leaf tensors).
  const Adapters on_cpu = adapters.To(torch::kCPU);
  auto flat_gradient = [&](const ClipModel& m, const Adapters& a, const torch::Tensor& x) {
    const torch::Tensor loss =
        SitLoss(m, a, m.EncodeImage(x, &a, true), tokens, labels.to(x.device()));
    return FlattenToCpu(torch::autograd::grad({loss}, a.Parameters()));
  };
  return torch::cosine_similarity(flat_gradient(model, adapters, pixels),
                                  flat_gradient(reference, on_cpu, pixels.cpu()), 0)
      .item<double>();
}

// Every adapter tensor's gradient, flattened into one fp32 CPU vector (zeros where undefined).
torch::Tensor FlatGradients(const Adapters& adapters) {
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : adapters.Parameters()) {
    grads.push_back(p.grad().defined() ? p.grad() : torch::zeros_like(p));
  }
  return FlattenToCpu(grads);
}

// The SIT step with the image tower replayed from CUDA graphs (graphed_image_tower.h), timed
// like the eager step, as clip_sit_step_graphed_<arch>, with the cosine between its gradients
// and the eager step's for the same adapters and batch. A failed capture prints its error in
// the record instead.
void ReportGraphedSitStep(const ClipBenchOptions& o, const ClipModel& model,
                          const Adapters& adapters, torch::optim::Optimizer& optimizer,
                          const torch::Tensor& pixels, const torch::Tensor& class_tokens,
                          const torch::Tensor& labels, double flops, const std::string& arch) {
  const std::string name = "clip_sit_step_graphed_" + arch;
  std::unique_ptr<GraphedImageTower> tower;
  try {
    tower = GraphedImageTower::Capture(model, adapters, pixels);
  } catch (const c10::Error& e) {
    PrintRecord(name, {Str("error", e.what_without_backtrace())});
    return;
  }
  const auto backward = [&] {
    const torch::Tensor image = tower->Forward();
    SitLoss(model, adapters, image, class_tokens, labels).backward();
    tower->Backward(image.grad());
  };
  optimizer.zero_grad();
  backward();
  const torch::Tensor graphed = FlatGradients(adapters);
  optimizer.zero_grad();
  SitLoss(model, adapters, model.EncodeImage(pixels, &adapters, true), class_tokens, labels)
      .backward();
  const double cosine =
      torch::cosine_similarity(graphed, FlatGradients(adapters), 0).item<double>();
  const Timing t = TimeIt(
      [&] {
        optimizer.zero_grad();
        backward();
        optimizer.step();
      },
      2, o.iterations, model.device());
  Report(name, o, t, flops, 0);
  PrintRecord(name + "_check", {Num("gradient_cosine_vs_eager", cosine)});
}

// On a CUDA run: the same model and adapters on the CPU in fp32 as the reference, so that a wrong
// GPU-only path (kernels, folded scales, dtype) shows as a low cosine. Prints
// clip_cuda_vs_cpu_<arch> with the lowest cosine over 4 images and the labels.
void ReportCudaAgreement(const ClipConfig& config, const ClipModel& model, const Adapters& adapters,
                         const torch::Tensor& pixels, const torch::Tensor& label_tokens,
                         const std::string& arch) {
  if (!model.device().is_cuda()) return;
  auto reference = ClipModel::FromTensors(InitClipTensors(config, 0), ClipConfigMetadata(config),
                                          ModelOptions());
  if (!reference.ok()) {
    std::cerr << "clip bench: " << reference.status().ToString() << std::endl;
    return;
  }
  const Adapters reference_adapters = adapters.To(torch::kCPU);
  const torch::Tensor some_pixels = pixels.narrow(0, 0, std::min<int64_t>(4, pixels.size(0)));
  const double gradient_cosine =
      SitGradientCosine(model, adapters, *reference, some_pixels, label_tokens);
  torch::NoGradGuard no_grad;
  auto lowest_cosine = [](const torch::Tensor& a, const torch::Tensor& b) {
    return torch::cosine_similarity(a.cpu(), b, -1).min().item<double>();
  };
  const double image_cosine =
      lowest_cosine(model.EncodeImage(some_pixels, &adapters),
                    reference->EncodeImage(some_pixels.cpu(), &reference_adapters));
  const double text_cosine =
      lowest_cosine(model.EncodeText(label_tokens, &adapters),
                    reference->EncodeText(label_tokens, &reference_adapters));
  PrintRecord(
      "clip_cuda_vs_cpu_" + arch,
      {Num("min_cosine_image", image_cosine), Num("min_cosine_text", text_cosine),
       Num("sit_gradient_cosine", gradient_cosine), Str("dtype", c10::toString(model.dtype()))});
}

// The inference figure's two towers timed apart, to see where its time goes.
void ReportInferenceParts(const ClipBenchOptions& o, const ClipConfig& config,
                          const ClipModel& model, const Adapters& served,
                          const torch::Tensor& pixels, const torch::Tensor& label_tokens,
                          const std::string& arch) {
  const torch::Device device = model.device();
  const Timing image_only = TimeIt(
      [&] {
        torch::NoGradGuard no_grad;
        model.EncodeImage(pixels, &served).sum().item();
      },
      1, o.iterations, device);
  const double image_flops = ForwardFlops(config, ClipWork{o.run.batch, 0, 0, 0});
  PrintRecord("clip_encode_image_" + arch,
              {Num("images_per_s", o.run.batch * 1000.0 / image_only.mean_ms),
               Num("ms_per_step", image_only.mean_ms),
               Num("tflop_per_s", image_flops / (image_only.mean_ms * 1e-3) / 1e12),
               Num("batch", o.run.batch), Num("threads", o.run.threads)});
  const Timing text_only = TimeIt(
      [&] {
        torch::NoGradGuard no_grad;
        model.EncodeText(label_tokens, &served).sum().item();
      },
      1, o.iterations, device);
  PrintRecord("clip_encode_text_" + arch,
              {Num("labels", static_cast<double>(kLabels.size())),
               Num("ms_per_step", text_only.mean_ms), Num("threads", o.run.threads)});
}

}  // namespace

int RunClipBench(const ClipBenchOptions& o) {
  const ModelOptions model_options = ApplyRunOptions(o.run);
  auto config = NamedClipConfig(o.architecture);
  auto tokenizer = Tokenizer::LoadDefault();
  if (!config.ok() || !tokenizer.ok()) {
    std::cerr << "clip bench: " << (config.ok() ? tokenizer.status() : config.status()).ToString()
              << std::endl;
    return 1;
  }
  auto model = ClipModel::FromTensors(InitClipTensors(*config, 0), ClipConfigMetadata(*config),
                                      model_options);
  PetOptions pet;  // LoRA r = 8 on attention qkv/out and MLP fc/proj of both towers
  auto adapters = Adapters::Create(*config, pet, 0, model_options.device);
  if (!model.ok() || !adapters.ok()) {
    std::cerr << "clip bench: " << (model.ok() ? adapters.status() : model.status()).ToString()
              << std::endl;
    return 1;
  }
  const int r = config->image_resolution;
  const torch::Tensor pixels = torch::randn({o.run.batch, 3, r, r}).to(model_options.device);
  const torch::Tensor label_tokens = LabelTokens(*tokenizer, kLabels, config->context_length);
  const std::string arch = ShortName(o.architecture);
  // Queries run on published snapshots, which carry merged LoRA weights (online_options.h).
  const Adapters served = model->MergeAdapters(*adapters);

  const auto infer_step = [&] {
    torch::NoGradGuard no_grad;
    torch::Tensor classes =
        torch::nn::functional::normalize(model->EncodeText(label_tokens, &served),
                                         torch::nn::functional::NormalizeFuncOptions().dim(-1));
    ScoreZeroShot(*model, model->EncodeImage(pixels, &served), classes).probs.sum().item();
  };
  const Timing infer = TimeIt(infer_step, 2, o.iterations, model_options.device);
  const int64_t label_positions = LongestTokenRun(label_tokens);
  const ClipWork infer_work{o.run.batch, static_cast<int64_t>(kLabels.size()), label_positions, 0};
  Report("clip_infer_" + arch, o, infer, ForwardFlops(*config, infer_work), kPeerInferImagesPerS);

  ReportInferenceParts(o, *config, *model, served, pixels, label_tokens, arch);

  // SIT step: cross-entropy over the classes present in the batch only.
  FusedAdamW optimizer(adapters->Parameters(), torch::optim::AdamWOptions(1e-4));
  // 5 classes present; on the device before timing, as a learner holds its targets there.
  const torch::Tensor labels = (torch::arange(o.run.batch) % 5).to(model_options.device);
  const torch::Tensor present_tokens = label_tokens.narrow(0, 0, 5);
  std::optional<ShardedImageEncoder> image_parts;
  if (o.image_parts > 1 && o.run.device == "cpu") image_parts.emplace(&*model, o.image_parts);
  const auto sit_step = [&] {
    TracePhase phase("perennial::step::image_forward");
    optimizer.zero_grad();
    const torch::Tensor image = image_parts ? image_parts->Encode(pixels, &*adapters)
                                            : model->EncodeImage(pixels, &*adapters, true);
    phase.Next("perennial::step::text_forward");
    const torch::Tensor loss = SitLoss(*model, *adapters, image, present_tokens, labels);
    phase.Next("perennial::step::backward");
    loss.backward();
    if (image_parts) image_parts->Backward();
    phase.Next("perennial::step::optimizer");
    optimizer.step();
  };
  const Timing sit = TimeIt(sit_step, 2, o.iterations, model_options.device);
  const ClipWork sit_work{o.run.batch, present_tokens.size(0), LongestTokenRun(present_tokens),
                          pet.lora_rank};
  Report("clip_sit_step_" + arch, o, sit, SitStepFlops(*config, sit_work), kPeerSitImagesPerS);
  if (o.cuda_graph) {
    ReportGraphedSitStep(o, *model, *adapters, optimizer, pixels, present_tokens, labels,
                         SitStepFlops(*config, sit_work), arch);
  }
  ReportCudaAgreement(*config, *model, *adapters, pixels, label_tokens, arch);
  if (!o.trace_path.empty() &&
      !(WriteTaggedTrace(infer_step, o.trace_path, "infer", "clip bench") &&
        WriteTaggedTrace(sit_step, o.trace_path, "sit", "clip bench"))) {
    return 1;
  }
  return 0;
}

}  // namespace perennial::bench
