// File: clients/cli/command.h
//
// What every `perennial` subcommand shares, in both of its programs: a subcommand's body, and
// JSON on stdout. LibTorch-free: `perennial` itself (the server commands) links no LibTorch;
// the commands that run the model live in perennial-model (model_command_list.h).
#ifndef PERENNIAL_CLIENTS_CLI_COMMAND_H_
#define PERENNIAL_CLIENTS_CLI_COMMAND_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>

#include "learner/base/status.h"

namespace perennial::cli {

// What --version prints, in both programs.
inline constexpr char kVersionLine[] = "perennial 0.1.0";

// A subcommand's body; RunSelectedCommand runs the one the user chose and turns its Status into
// the exit code (0 on success, 1 on error, with "error: <message>" on stderr).
using CommandFn = std::function<Status()>;

// Registers `fn` to run when `sub` is selected.
void SetCommand(CLI::App* sub, CommandFn fn);
// The body of the selected subcommand, or null when none was chosen.
CommandFn* SelectedCommand(CLI::App& app);
// Parses `argv` into `app` and runs the selected subcommand; returns main()'s exit code.
int ParseAndRun(CLI::App& app, int argc, char** argv);

// Writes `value` as one line of JSON to stdout.
void PrintJson(const nlohmann::json& value);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_COMMAND_H_
