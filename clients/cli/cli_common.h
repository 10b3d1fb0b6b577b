// File: clients/cli/cli_common.h
//
// What the subcommands that run the model (perennial-model) share: runtime flags (--device,
// --threads), locating and loading the model, tensors as JSON.
#ifndef PERENNIAL_CLIENTS_CLI_CLI_COMMON_H_
#define PERENNIAL_CLIENTS_CLI_CLI_COMMON_H_

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "clients/cli/command.h"
#include "learner/base/status.h"
#include "learner/model/clip_model.h"

namespace perennial::cli {

struct RuntimeFlags {
  std::string device = "cpu";  // "cpu" or "cuda" (or "cuda:N")
  int threads = 0;             // 0: one per core
  std::string dtype = "fp32";  // compute dtype of the weights: fp32, bf16, fp16 or auto
};

// Adds --device and --threads to `sub`, bound to `flags`.
void AddRuntimeFlags(CLI::App* sub, RuntimeFlags* flags);
// Sets LibTorch's thread counts and checks the device exists.
StatusOr<torch::Device> ApplyRuntimeFlags(const RuntimeFlags& flags);

// Adds --model (defaulting to the embedded model) to `sub`.
void AddModelFlag(CLI::App* sub, std::string* model_path);
// Loads `requested`, or the default model that ResolveModelPath (learner/model/default_model.h)
// finds, on the device the flags select.
StatusOr<ClipModel> LoadModel(const std::string& requested, const RuntimeFlags& flags);

// A [rows, cols] float tensor as nested arrays.
nlohmann::json TensorRows(const torch::Tensor& matrix);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_CLI_COMMON_H_
