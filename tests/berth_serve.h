// Starting `berth serve` (the embedded registry) for integration tests.
#ifndef BERTH_TESTS_BERTH_SERVE_H_
#define BERTH_TESTS_BERTH_SERVE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/harness/process.h"

namespace berth::testing {

// True once GET /v1/_ping on 127.0.0.1:port answers 200.
bool PingOk(int port);

// Starts `berth serve --listen 127.0.0.1:<port> --data <data> [extra...]`
// (log appended to <log_dir>/serve.log if log_dir is set) and waits until
// it answers the ping. An error if it exits or is not ready in `timeout`
// (the error carries its log tail).
// Starts `binary serve --listen 127.0.0.1:<port> --data <data> <extra...>`
// with its log at `log_path` ("" = the harness default) and waits for the
// ping like StartServe. The one implementation behind both helpers.
absl::StatusOr<std::unique_ptr<Process>> StartServeBinary(
    const std::string& binary, int port, const std::string& data,
    const std::string& log_path, const std::vector<std::string>& extra,
    absl::Duration timeout);

absl::StatusOr<std::unique_ptr<Process>> StartServe(
    int port, const std::string& data, const std::string& log_dir = "",
    absl::Duration timeout = absl::Seconds(20));

}  // namespace berth::testing

#endif  // BERTH_TESTS_BERTH_SERVE_H_
