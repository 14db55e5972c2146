// Clean shutdown on SIGTERM/SIGINT.
//
// BlockStopSignals() must run in main() before any thread starts so that
// every thread inherits the blocked mask; WaitForStopSignal() then returns on
// the calling thread when one arrives. No async-signal handler runs at all.
#ifndef BERTH_COMMON_SIGNALS_H_
#define BERTH_COMMON_SIGNALS_H_

namespace berth {

void BlockStopSignals();

// Blocks until SIGTERM or SIGINT; returns the signal number.
int WaitForStopSignal();

}  // namespace berth

#endif  // BERTH_COMMON_SIGNALS_H_
