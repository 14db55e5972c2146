// Waiting until every frontend runs on a shard map version (berthctl
// shards drain): frontends report the map version their new requests use
// (FrontendReport.shard_map_version, sent at once after they adopt a map),
// and metad lists the reports of the last minute. A frontend whose newest
// report is older than the map counts as lagging until it reports again
// or its report expires (a stopped frontend drops out within a minute).
//
// Separate from the command so the waiting logic can be tested with a fake
// clock. Single-threaded: WaitForAdoption runs on its caller's thread.
#ifndef BERTH_TOOLS_CTL_FRONTEND_ADOPTION_H_
#define BERTH_TOOLS_CTL_FRONTEND_ADOPTION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/admin.pb.h"
#include "tools/ctl/context.h"

namespace berth::ctl {

using FrontendReports = std::vector<meta::FrontendReport>;

// The frontend reports of the last minute, from the first replica in
// ctx->flags.endpoints that answers Admin.Status (all read the same etcd
// keys). UNAVAILABLE when none answers.
absl::StatusOr<FrontendReports> ReadFrontendReports(Context* ctx);

// The reports whose shard_map_version is below `version`, in input order.
FrontendReports LaggingFrontends(const FrontendReports& reports,
                                 uint64_t version);

// "fe-1 (127.0.0.1:5000) on map version 3, fe-2 (...) on map version 0":
// one entry per report, for error messages.
std::string DescribeFrontends(const FrontendReports& reports);

struct AdoptionWaitOptions {
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration poll = absl::Milliseconds(250);  // between reads
  // Injectable for tests; default the real clock.
  std::function<absl::Time()> now = [] { return absl::Now(); };
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) {
    absl::SleepFor(d);
  };
};

struct AdoptionResult {
  bool adopted = false;        // every listed frontend reports >= version
  FrontendReports frontends;   // the last reports read
  FrontendReports lagging;     // those of them below the version
  absl::Duration waited;
};

// Reads the reports with `fetch` every options.poll until every frontend
// reports `version` or newer (adopted) or options.timeout passed (not
// adopted, `lagging` names who). A failed read is retried until the
// timeout; the error is returned only when no read succeeded at all. No
// frontend listed counts as adopted (nothing to wait for).
absl::StatusOr<AdoptionResult> WaitForAdoption(
    const std::function<absl::StatusOr<FrontendReports>()>& fetch,
    uint64_t version, const AdoptionWaitOptions& options);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_FRONTEND_ADOPTION_H_
