// SIGINT/SIGTERM handling for long runs. The first signal sets a flag that the trainer polls
// between micro-batches, so it can checkpoint the last completed step and exit cleanly; a second
// signal ends the process at once (exit status 128 + signal number).
#pragma once

namespace fq {

// Installs the handlers; call once before the training loop.
void install_stop_handlers();
// The signal number received (SIGINT or SIGTERM), or 0 when none has arrived.
int stop_signal();
// Forgets a received signal (used by tests).
void reset_stop_signal();

}  // namespace fq
