// perennial-model: the `perennial` subcommands that run the model locally (LibTorch).
// `perennial` starts it for them with its own arguments, so its usage lines read `perennial`;
// run directly, it takes the same arguments. See model_command_list.h for why it is separate.
#include <CLI/CLI.hpp>

#include "clients/cli/bench_cl_commands.h"
#include "clients/cli/command.h"
#include "clients/cli/model_commands.h"
#include "clients/cli/pretrain_commands.h"
#include "learner/base/cpu_runtime.h"

int main(int argc, char** argv) {
  namespace cli = perennial::cli;
  perennial::TuneCpuRuntime();
  CLI::App app{
      "perennial-model: the perennial commands that run the model locally (`perennial "
      "<command>` starts it).\nRun `perennial --help` for every command."};
  app.require_subcommand(1);
  app.set_version_flag("--version", cli::kVersionLine);
  cli::AddModelCommands(app);
  cli::AddPretrainCommands(app);
  cli::AddBenchClCommand(app);
  return cli::ParseAndRun(app, argc, argv);
}
