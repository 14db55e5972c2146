// Process-wide logging setup. Every Berth binary logs through spdlog's
// default logger to stderr; --log-level picks the threshold. On a terminal
// every line is written at once; otherwise lines are batched (one write(2)
// per 64 KiB, per warn-or-worse line, every 50 ms and at exit).
#ifndef BERTH_COMMON_LOGGING_H_
#define BERTH_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace berth {

// Sets the default logger's level from one of trace, debug, info, warn,
// error, critical, off. Unknown names are INVALID_ARGUMENT.
absl::Status InitLogging(const std::string& level, const std::string& name);

// Writes out every batched line now (also done at exit and every 50 ms).
void FlushLogging();

}  // namespace berth

#endif  // BERTH_COMMON_LOGGING_H_
