// File: clients/cli/server_commands.h
//
// The `perennial` commands that talk to a running perennial-server over gRPC (--server, default
// 127.0.0.1:50051; $PERENNIAL_SERVER overrides the default):
//   ingest       stream a built-in dataset in a stream order (Si-Blurry, class-incremental, iid)
//                or image files / class folders, with a progress bar, --rate, and retries with
//                backoff on RESOURCE_EXHAUSTED / UNAVAILABLE;
//   status       GetStatus (learning metrics included);
//   checkpoint, checkpoints, rollback, pause, resume, labels-set, vocab-add.
// Human-readable output by default, one JSON object per line with --json. Exit code 1 with the
// server's message on stderr when a call fails.
#ifndef PERENNIAL_CLIENTS_CLI_SERVER_COMMANDS_H_
#define PERENNIAL_CLIENTS_CLI_SERVER_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace perennial::cli {

void AddServerCommands(CLI::App& app);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_SERVER_COMMANDS_H_
