// File: clients/cli/cli_common.h
//
// What every `perennial` subcommand shares: runtime flags (--device, --threads), locating and
// loading the model and tokenizer, and printing JSON to stdout / errors to stderr.
#ifndef PERENNIAL_CLIENTS_CLI_CLI_COMMON_H_
#define PERENNIAL_CLIENTS_CLI_CLI_COMMON_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "learner/base/status.h"
#include "learner/model/clip_model.h"

namespace perennial::cli {

// A subcommand's body; main() runs the one the user chose and turns its Status into the exit
// code (0 on success, 1 on error, with "error: <message>" on stderr).
using CommandFn = std::function<Status()>;

// Registers `fn` to run when `sub` is selected.
void SetCommand(CLI::App* sub, CommandFn fn);
// The body of the selected subcommand, or null when none was chosen.
CommandFn* SelectedCommand(CLI::App& app);

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

// Writes `value` as one line of JSON to stdout.
void PrintJson(const nlohmann::json& value);
// A [rows, cols] float tensor as nested arrays.
nlohmann::json TensorRows(const torch::Tensor& matrix);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_CLI_COMMON_H_
