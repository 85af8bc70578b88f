#include "train/signals.h"

#include <csignal>
#include <unistd.h>

namespace fq {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void handle_stop_signal(int sig) {
  if (g_stop_signal != 0) _exit(128 + sig);  // second signal: no cleanup, leave at once
  g_stop_signal = sig;
  static const char message[] =
      "\nflashquad: stop requested; finishing with a checkpoint of the last completed step "
      "(send the signal again to exit at once)\n";
  ssize_t ignored = write(STDERR_FILENO, message, sizeof(message) - 1);
  (void)ignored;
}
}  // namespace

void install_stop_handlers() {
  struct sigaction action = {};
  action.sa_handler = handle_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_signal() { return g_stop_signal; }
void reset_stop_signal() { g_stop_signal = 0; }

}  // namespace fq
