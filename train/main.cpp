// flashquad: pretrains FLASH-Quad masked language models. One binary, one subcommand per job.
#include <cstdio>
#include <exception>

#include "core/parallel.h"
#include "train/commands.h"

int main(int argc, char** argv) {
  fq::ensure_blas_kernels(argv);
  CLI::App app{"flashquad: FLASH-Quad masked-LM pretraining on CPUs"};
  app.require_subcommand(1);
  fq::register_data_commands(app);
  fq::register_model_commands(app);
  fq::register_train_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "flashquad: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
