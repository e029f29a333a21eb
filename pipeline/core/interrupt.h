// pipeline/core/interrupt.h
//
// Ctrl-C and SIGTERM during a long command: the handler only sets a flag; the work
// loops poll it, stop, remove what they had half-written, and exit 130. A second
// Ctrl-C restores the default action, so a stuck process can still be killed.
#pragma once

namespace shrike {

void install_interrupt_handlers();
bool interrupt_requested();
// Throws Interrupted when a signal arrived.
void throw_if_interrupted();

}  // namespace shrike
