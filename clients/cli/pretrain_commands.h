// File: clients/cli/pretrain_commands.h
//
// `perennial pretrain` (train the embedded default model from scratch on the synthetic world)
// and `perennial eval-zero-shot` (its zero-shot accuracy on the held-out probe tasks).
#ifndef PERENNIAL_CLIENTS_CLI_PRETRAIN_COMMANDS_H_
#define PERENNIAL_CLIENTS_CLI_PRETRAIN_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace perennial::cli {

void AddPretrainCommands(CLI::App& app);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_PRETRAIN_COMMANDS_H_
