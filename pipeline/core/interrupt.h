// pipeline/core/interrupt.h
//
// Signals that ask a long command to stop: SIGINT (Ctrl-C), SIGTERM (scancel, a time
// limit) and SIGUSR1 (Slurm's warning before preemption or the end of the allocation,
// `--signal=B:USR1@...`). The handler only records the signal; the work loops poll it,
// finish the current step, save what they must (a checkpoint), and exit. A second
// signal of the same kind restores the default action, so a stuck process can still
// be killed at once (writes are atomic, so that corrupts nothing).
#pragma once

namespace shrike {

void install_interrupt_handlers();
bool interrupt_requested();
// The first signal received (SIGINT, SIGTERM or SIGUSR1), 0 if none.
int interrupt_signal();
// Throws Interrupted when a signal arrived (for commands with nothing to save).
void throw_if_interrupted();
// Forgets a recorded signal (tests).
void clear_interrupt();

}  // namespace shrike
