// File: clients/cli/bench_cl_commands.h
//
// `perennial bench-cl`: the offline continual-learning benchmark (learner/eval/
// continual_benchmark.h) over methods x seeds, reported as a table of mean +- std (Markdown on
// stdout and in <out>/results.md, everything in <out>/results.json) and the anytime-accuracy
// curves as <out>/curves.png (drawn by scripts/plot_bench_cl.py with python3-matplotlib).
#ifndef PERENNIAL_CLIENTS_CLI_BENCH_CL_COMMANDS_H_
#define PERENNIAL_CLIENTS_CLI_BENCH_CL_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace perennial::cli {

void AddBenchClCommand(CLI::App& app);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_BENCH_CL_COMMANDS_H_
