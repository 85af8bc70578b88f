#include "train/commands.h"

namespace fq {

void register_model_commands(CLI::App& app) { (void)app; }

}  // namespace fq
