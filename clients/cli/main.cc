// perennial: the command-line tool. Subcommands print JSON on stdout and errors on stderr, and
// exit non-zero on failure.
#include <CLI/CLI.hpp>
#include <iostream>

#include "clients/cli/bench_cl_commands.h"
#include "clients/cli/cli_common.h"
#include "clients/cli/loadgen_command.h"
#include "clients/cli/model_commands.h"
#include "clients/cli/pretrain_commands.h"
#include "clients/cli/query_command.h"
#include "clients/cli/server_commands.h"
#include "learner/base/cpu_runtime.h"

int main(int argc, char** argv) {
  perennial::TuneCpuRuntime();
  CLI::App app{
      "perennial: a CLIP model that keeps learning from a stream of labeled images.\n"
      "Run `perennial <command> --help` for a command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "perennial 0.1.0");
  perennial::cli::AddModelCommands(app);
  perennial::cli::AddPretrainCommands(app);
  perennial::cli::AddBenchClCommand(app);
  perennial::cli::AddServerCommands(app);
  perennial::cli::AddLoadgenCommand(app);
  perennial::cli::AddQueryCommand(app);
  perennial::cli::AddQueryEmbedCommand(app);
  CLI11_PARSE(app, argc, argv);

  perennial::cli::CommandFn* command = perennial::cli::SelectedCommand(app);
  if (command == nullptr) {
    std::cerr << app.help() << std::endl;
    return 2;
  }
  const perennial::Status status = (*command)();
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << std::endl;
    return 1;
  }
  return 0;
}
