// File: clients/cli/model_command_list.h
//
// The subcommands that run the model locally (LibTorch) live in a second program,
// perennial-model, so that `perennial` itself, which talks to a server, starts in milliseconds:
// Debian's LibTorch loads ~340 shared libraries and registers its operators before main(),
// ~0.8 s of CPU per run of a command as small as `perennial status`. `perennial` lists these
// commands in its help and hands them on (ExecModelCommand); perennial-model registers them
// with the same descriptions. LibTorch-free.
#ifndef PERENNIAL_CLIENTS_CLI_MODEL_COMMAND_LIST_H_
#define PERENNIAL_CLIENTS_CLI_MODEL_COMMAND_LIST_H_

#include <string>
#include <string_view>
#include <vector>

#include "learner/base/status.h"

namespace perennial::cli {

struct CommandSummary {
  const char* name;
  const char* description;  // the subcommand's help paragraph
};

// tokenize, embed, classify, model, pretrain, eval-zero-shot and bench-cl, in help order.
const std::vector<CommandSummary>& ModelCommands();
// The description of model command `name`; empty when it is not one.
std::string ModelCommandDescription(std::string_view name);
bool IsModelCommand(std::string_view name);

// Replaces this process with perennial-model, found beside the running program, on the same
// arguments (argv[0] included, so that usage lines name `perennial`). Returns only when that
// fails, saying why.
Status ExecModelCommand(char** argv);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_MODEL_COMMAND_LIST_H_
