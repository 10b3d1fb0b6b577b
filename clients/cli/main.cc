// perennial: the command-line tool. Subcommands print JSON on stdout and errors on stderr, and
// exit non-zero on failure. The commands that talk to a server run here, without LibTorch; the
// ones that run the model are handed to perennial-model (model_command_list.h).
#include <CLI/CLI.hpp>
#include <iostream>

#include "clients/cli/command.h"
#include "clients/cli/loadgen_command.h"
#include "clients/cli/model_command_list.h"
#include "clients/cli/query_command.h"
#include "clients/cli/server_commands.h"

int main(int argc, char** argv) {
  namespace cli = perennial::cli;
  if (argc > 1 && cli::IsModelCommand(argv[1])) {
    const perennial::Status status = cli::ExecModelCommand(argv);
    std::cerr << "error: " << status.message() << std::endl;
    return 1;
  }
  CLI::App app{
      "perennial: a CLIP model that keeps learning from a stream of labeled images.\n"
      "Run `perennial <command> --help` for a command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", cli::kVersionLine);
  // Listed for the help only: main() hands these to perennial-model before parsing.
  for (const cli::CommandSummary& command : cli::ModelCommands()) {
    app.add_subcommand(command.name, command.description)->allow_extras();
  }
  cli::AddServerCommands(app);
  cli::AddLoadgenCommand(app);
  cli::AddQueryCommand(app);
  cli::AddQueryEmbedCommand(app);
  for (CLI::App* sub : app.get_subcommands({})) {
    sub->group(cli::IsModelCommand(sub->get_name()) ? "Run the model here (no server)"
                                                    : "Talk to a server (--server)");
  }
  return cli::ParseAndRun(app, argc, argv);
}
