// File: clients/cli/loadgen_command.h
//
// `perennial loadgen`: N concurrent ingest streams and M query clients against a running
// server for a bounded time, each on its own connection. Prints acknowledged (durable)
// samples/s, Classify latency p50/p95/p99/max and errors by code; --json gives one object for
// benchmarks (bench/service_bench.sh). Real Fashion-MNIST images: train images are ingested
// under fresh idempotency keys (so every sample is new to the server), test images are queried
// against the ten class names.
#ifndef PERENNIAL_CLIENTS_CLI_LOADGEN_COMMAND_H_
#define PERENNIAL_CLIENTS_CLI_LOADGEN_COMMAND_H_

#include <CLI/CLI.hpp>

namespace perennial::cli {

void AddLoadgenCommand(CLI::App& app);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_LOADGEN_COMMAND_H_
