// File: clients/cli/model_commands.h
//
// Subcommands that run the model locally, without a server: tokenize, embed, classify and
// model info.
#ifndef PERENNIAL_CLIENTS_CLI_MODEL_COMMANDS_H_
#define PERENNIAL_CLIENTS_CLI_MODEL_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace perennial::cli {

void AddModelCommands(CLI::App& app);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_MODEL_COMMANDS_H_
