#include "tools/ctl/frontend_adoption.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace berth::ctl {

absl::StatusOr<FrontendReports> ReadFrontendReports(Context* ctx) {
  auto metadata = ctx->Metadata();
  if (!metadata.ok()) return metadata.status();
  absl::Status last = absl::UnavailableError("no metadata replica configured");
  for (size_t i = 0; i < (*metadata)->replica_count(); ++i) {
    auto status = (*metadata)->Status(i);
    if (!status.ok()) {
      last = status.status();
      continue;
    }
    return FrontendReports(status->frontends().begin(),
                           status->frontends().end());
  }
  return last;
}

FrontendReports LaggingFrontends(const FrontendReports& reports,
                                 uint64_t version) {
  FrontendReports out;
  for (const meta::FrontendReport& r : reports) {
    if (r.shard_map_version() < version) out.push_back(r);
  }
  return out;
}

std::string DescribeFrontends(const FrontendReports& reports) {
  std::string out;
  for (const meta::FrontendReport& r : reports) {
    if (!out.empty()) out += ", ";
    absl::StrAppend(&out, r.id());
    if (!r.address().empty() && r.address() != r.id()) {
      absl::StrAppend(&out, " (", r.address(), ")");
    }
    absl::StrAppend(&out, " on map version ", r.shard_map_version());
  }
  return out;
}

absl::StatusOr<AdoptionResult> WaitForAdoption(
    const std::function<absl::StatusOr<FrontendReports>()>& fetch,
    uint64_t version, const AdoptionWaitOptions& options) {
  const absl::Time start = options.now();
  const absl::Time deadline = start + options.timeout;
  AdoptionResult result;
  bool read_any = false;
  absl::Status last_error;
  for (;;) {
    absl::StatusOr<FrontendReports> reports = fetch();
    if (reports.ok()) {
      read_any = true;
      result.frontends = std::move(*reports);
      result.lagging = LaggingFrontends(result.frontends, version);
      if (result.lagging.empty()) {
        result.adopted = true;
        break;
      }
    } else {
      last_error = reports.status();
    }
    const absl::Time now = options.now();
    if (now >= deadline) break;
    options.sleep(std::min(options.poll, deadline - now));
  }
  if (!read_any) return last_error;
  result.waited = options.now() - start;
  return result;
}

}  // namespace berth::ctl
