#include "frontend/reporter.h"

#include "absl/time/clock.h"
#include "common/version.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {

LoadCountingHandler::LoadCountingHandler(HttpHandler* inner, Metrics* metrics)
    : inner_(inner) {
  if (metrics != nullptr) {
    gauge_ = metrics->GetGauge("berth_http_requests_in_flight",
                               "requests being answered");
  }
}

void LoadCountingHandler::Handle(HttpExchange& ex) {
  // Handle answers the request before it returns (streamed bodies
  // included), so the count covers the whole exchange.
  in_flight_.fetch_add(1);
  if (gauge_ != nullptr) gauge_->Add(1);
  inner_->Handle(ex);
  if (gauge_ != nullptr) gauge_->Add(-1);
  in_flight_.fetch_sub(1);
  answered_.fetch_add(1);
}

void ReportSignal::Raise() {
  absl::MutexLock lock(&mu_);
  raised_ = true;
}

void ReportSignal::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool ReportSignal::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return raised_ || closed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&woken), timeout);
  raised_ = false;
  return !closed_;
}

FrontendReporter::FrontendReporter(ReporterOptions options,
                                   std::unique_ptr<meta::MetadataClient> metadata,
                                   const LoadCountingHandler* load,
                                   Metrics* metrics)
    : options_(std::move(options)),
      metadata_(std::move(metadata)),
      load_(load),
      started_unix_(absl::ToUnixSeconds(absl::Now())),
      signal_(options_.signal != nullptr ? options_.signal
                                         : std::make_shared<ReportSignal>()) {
  if (metrics != nullptr) {
    // The same series the HTTP server and the registry update.
    connections_ = metrics->GetGauge("berth_http_connections",
                                     "open client connections");
    uploads_ = metrics->GetGauge("berth_uploads_in_flight",
                                 "layer uploads being received");
  }
  thread_ = std::thread(&FrontendReporter::Loop, this);
}

FrontendReporter::~FrontendReporter() { Stop(); }

void FrontendReporter::Stop() {
  signal_->Close();
  if (thread_.joinable()) thread_.join();
}

meta::FrontendReport FrontendReporter::Build(double seconds_since_last,
                                             uint64_t* answered) {
  meta::FrontendReport r;
  r.set_id(options_.id);
  r.set_address(options_.address);
  r.set_version(kBerthVersion);
  r.set_zone(options_.zone);
  r.set_in_flight_requests(load_->in_flight());
  const uint64_t now_answered = load_->answered();
  if (seconds_since_last > 0) {
    r.set_requests_per_second(
        static_cast<double>(now_answered - *answered) / seconds_since_last);
  }
  *answered = now_answered;
  if (uploads_ != nullptr) r.set_uploads_in_flight(uploads_->value());
  if (connections_ != nullptr) r.set_connections(connections_->value());
  r.set_started_unix(started_unix_);
  if (options_.shard_map_version) {
    r.set_shard_map_version(options_.shard_map_version());
  }
  if (options_.images_generation) {
    r.set_images_deleted_generation(options_.images_generation());
  }
  return r;
}

void FrontendReporter::Loop() {
  uint64_t answered = load_->answered();
  absl::Time last = absl::Now();
  bool first = true;
  for (;;) {
    // The first report goes at once; then one per interval, or earlier
    // when the signal is raised (a new shard map: see ReportSignal).
    if (!signal_->Wait(first ? absl::ZeroDuration() : options_.interval)) {
      return;
    }
    first = false;
    const absl::Time now = absl::Now();
    meta::FrontendReport report =
        Build(absl::ToDoubleSeconds(now - last), &answered);
    last = now;
    auto sent = metadata_->ReportFrontend(report);
    if (!sent.ok()) {
      spdlog::debug("frontend report: {}", sent.status().ToString());
    }
  }
}

}  // namespace berth::frontend
