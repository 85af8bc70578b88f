// Subcommands of the flashquad binary, grouped by area. Each function adds its subcommands to
// the CLI11 app; the callback of a subcommand does the work and throws on failure.
#pragma once

#include <CLI/CLI.hpp>

namespace fq {

void register_data_commands(CLI::App& app);   // tokenize, vocab, prepare (train/cli_data.cpp)
void register_model_commands(CLI::App& app);  // forward, export (train/cli_model.cpp)
void register_train_commands(CLI::App& app);  // train, eval, fill-mask (train/cli_train.cpp)

}  // namespace fq
