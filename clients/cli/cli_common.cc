#include "clients/cli/cli_common.h"

#include <algorithm>
#include <thread>

#include "learner/base/cpu_runtime.h"
#include "learner/model/default_model.h"

namespace perennial::cli {

void AddRuntimeFlags(CLI::App* sub, RuntimeFlags* flags) {
  sub->add_option("--device", flags->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", flags->dtype,
                  "compute dtype of the weights: fp32, bf16, fp16, or auto (bf16 where the "
                  "hardware multiplies it natively, else fp32)")
      ->capture_default_str();
  sub->add_option("--threads", flags->threads, "CPU threads for LibTorch (0: one per core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

StatusOr<torch::Device> ApplyRuntimeFlags(const RuntimeFlags& flags) {
  int threads = flags.threads;
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  StatusOr<torch::Device> device = ParseDevice(flags.device);
  if (!device.ok()) {
    return Status(device.status().code(), "--device: " + std::string(device.status().message()));
  }
  return device;
}

void AddModelFlag(CLI::App* sub, std::string* model_path) {
  sub->add_option("--model", *model_path,
                  "CLIP weights: OpenAI/open_clip or Hugging Face safetensors, or an OpenAI "
                  "TorchScript .pt (default: $PERENNIAL_MODEL, else the embedded model)");
}

StatusOr<ClipModel> LoadModel(const std::string& requested, const RuntimeFlags& flags) {
  PERENNIAL_ASSIGN_OR_RETURN(torch::Device device, ApplyRuntimeFlags(flags));
  PERENNIAL_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(requested));
  ModelOptions options;
  options.device = device;
  PERENNIAL_ASSIGN_OR_RETURN(options.dtype,
                             ParseComputeDtype(ResolveAutoDtype(flags.dtype, flags.device)));
  return ClipModel::Load(path, options);
}

nlohmann::json TensorRows(const torch::Tensor& matrix) {
  const torch::Tensor m = matrix.to(torch::kCPU, torch::kFloat32).contiguous();
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < m.size(0); ++i) {
    const float* row = m[i].data_ptr<float>();
    rows.push_back(std::vector<float>(row, row + m.size(1)));
  }
  return rows;
}

}  // namespace perennial::cli
