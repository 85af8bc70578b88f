#include "train/commands.h"

namespace fq {

void register_train_commands(CLI::App& app) { (void)app; }

}  // namespace fq
