#include "clients/cli/model_command_list.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace perennial::cli {

const std::vector<CommandSummary>& ModelCommands() {
  static const auto* commands = new std::vector<CommandSummary>{
      {"tokenize",
       "Print CLIP BPE token ids (SOT and EOT included, no padding), one JSON per text"},
      {"embed", "Print projected (unnormalised) image and text features as one JSON object"},
      {"classify", "Zero-shot classify an image over comma-separated labels"},
      {"model", "Inspect model files"},
      {"pretrain",
       "Pretrain a small CLIP model from scratch on the synthetic shapes world (contrastive,\n"
       "symmetric InfoNCE, AdamW, warmup + hold + cosine). Progress on stderr; a JSON summary\n"
       "with the final zero-shot probe accuracies on stdout. Ctrl-C saves a checkpoint and stops;\n"
       "--resume continues bit-for-bit. Defaults train the shipped model (ViT 4x128/8 at 64 px,\n"
       "text 4x128)."},
      {"eval-zero-shot",
       "Zero-shot accuracy on the synthetic world's probe tasks (colour, shape, position, count,\n"
       "size), on images of attribute combinations held out of pretraining. Prints JSON with the\n"
       "accuracy and the chance level of each task; deterministic for a given --seed."},
      {"bench-cl",
       "Offline continual-learning benchmark: streams a dataset in Si-Blurry order through each\n"
       "method (no server), with anytime evaluation on the test samples of the classes seen so\n"
       "far, and prints mean ± std over seeds of A_auc, A_last, F_last, prequential accuracy,\n"
       "zero-shot retention (synthetic-world probes) and training img/s. Writes results.md,\n"
       "results.json and curves.png to --out. Defaults: a 6000-sample stratified subsample."},
  };
  return *commands;
}

std::string ModelCommandDescription(std::string_view name) {
  for (const CommandSummary& command : ModelCommands()) {
    if (name == command.name) return command.description;
  }
  return "";
}

bool IsModelCommand(std::string_view name) { return !ModelCommandDescription(name).empty(); }

Status ExecModelCommand(char** argv) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    return InternalError("cannot locate this program (/proc/self/exe): " + error.message());
  }
  const std::filesystem::path model_program = self.parent_path() / "perennial-model";
  execv(model_program.c_str(), argv);
  return NotFoundError("`perennial " + std::string(argv[1]) + "` runs in " +
                       model_program.string() + ", which did not start: " + std::strerror(errno) +
                       " (it is built and installed beside perennial)");
}

}  // namespace perennial::cli
