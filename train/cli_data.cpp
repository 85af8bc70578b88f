#include "train/commands.h"

namespace fq {

void register_data_commands(CLI::App& app) { (void)app; }

}  // namespace fq
