// pipeline/core/interrupt.cpp: async-signal-safe flag set by SIGINT / SIGTERM.
#include "pipeline/core/interrupt.h"

#include <csignal>

#include "pipeline/core/error.h"

namespace shrike {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int signal_number) {
  g_interrupted = 1;
  std::signal(signal_number, SIG_DFL);  // the next one kills
}
}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

bool interrupt_requested() { return g_interrupted != 0; }

void throw_if_interrupted() {
  if (interrupt_requested()) throw Interrupted();
}

}  // namespace shrike
