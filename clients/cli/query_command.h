// File: clients/cli/query_command.h
//
// `perennial query`: zero-shot Classify of image files by a running server, with the model it
// serves now (or at least --min-version), over --labels or a stored --label-set. Where
// `perennial classify` runs a model file locally, this asks the live, learning model.
// `perennial query-embed`: the live model's unit-norm embeddings of image files and texts
// (EmbedImage, EmbedText), as `perennial embed` gives for a model file.
#ifndef PERENNIAL_CLIENTS_CLI_QUERY_COMMAND_H_
#define PERENNIAL_CLIENTS_CLI_QUERY_COMMAND_H_

#include <CLI/CLI.hpp>

namespace perennial::cli {

void AddQueryCommand(CLI::App& app);
void AddQueryEmbedCommand(CLI::App& app);

}  // namespace perennial::cli

#endif  // PERENNIAL_CLIENTS_CLI_QUERY_COMMAND_H_
