// Process-wide logging setup. Every Berth binary logs through spdlog's
// default logger to stderr; --log-level picks the threshold.
#ifndef BERTH_COMMON_LOGGING_H_
#define BERTH_COMMON_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace berth {

// Sets the default logger's level from one of trace, debug, info, warn,
// error, critical, off. Unknown names are INVALID_ARGUMENT.
absl::Status InitLogging(const std::string& level, const std::string& name);

}  // namespace berth

#endif  // BERTH_COMMON_LOGGING_H_
