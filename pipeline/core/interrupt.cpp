// pipeline/core/interrupt.cpp: async-signal-safe recording of SIGINT / SIGTERM / SIGUSR1.
#include "pipeline/core/interrupt.h"

#include <csignal>

#include "pipeline/core/error.h"

namespace shrike {

namespace {
volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_interrupt(int signal_number) {
  if (g_signal == 0) g_signal = signal_number;
  std::signal(signal_number, SIG_DFL);  // the next one of this kind acts at once
}
}  // namespace

void install_interrupt_handlers() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::signal(SIGUSR1, on_interrupt);
}

bool interrupt_requested() { return g_signal != 0; }
int interrupt_signal() { return g_signal; }
void clear_interrupt() { g_signal = 0; }

void throw_if_interrupted() {
  if (interrupt_requested()) throw Interrupted();
}

}  // namespace shrike
