// A frontend's report to the metadata tier (Admin.ReportFrontend, see
// proto/admin.proto): every `interval` it sends its id, address, version,
// zone, load (requests in flight, request rate, uploads in flight, open
// connections) and the shard map version and images-deleted generation it
// runs on to any metad, which keeps it as a 60 s lease-bound etcd key
// for `berthctl status`. Failures are logged at debug level and retried
// at the next interval; reporting never affects serving.
//
// LoadCountingHandler wraps the registry's HttpHandler to count requests
// (in flight and answered); it is called on connection threads.
// FrontendReporter owns one thread that sleeps between reports; Stop()
// (or the destructor) ends it promptly. ReportSignal::Raise() (from any
// thread, e.g. the shard map follower's after it adopted a new map) makes
// it report at once instead of at the next interval.
#ifndef BERTH_FRONTEND_REPORTER_H_
#define BERTH_FRONTEND_REPORTER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "frontend/http_exchange.h"
#include "metadata/metadata_client.h"

namespace berth::frontend {

class LoadCountingHandler final : public HttpHandler {
 public:
  // `inner` must outlive this handler; `metrics` may be null.
  LoadCountingHandler(HttpHandler* inner, Metrics* metrics);
  void Handle(HttpExchange& ex) override;
  int64_t in_flight() const { return in_flight_.load(); }
  uint64_t answered() const { return answered_.load(); }

 private:
  HttpHandler* const inner_;
  Gauge* gauge_ = nullptr;  // berth_http_requests_in_flight
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> answered_{0};
};

// Wakes a FrontendReporter early. Shared (shared_ptr) by the reporter and
// whoever raises it, so either may outlive the other. Thread-safe.
class ReportSignal {
 public:
  // Asks for a report now; several raises before the reporter wakes up
  // make one report.
  void Raise();
  // Ends every current and future Wait() at once (the reporter stops).
  void Close();
  // Waits until raised, closed or `timeout` passed, and consumes a raise.
  // False once closed.
  bool Wait(absl::Duration timeout);

 private:
  absl::Mutex mu_;
  bool raised_ = false;  // guarded by mu_
  bool closed_ = false;  // guarded by mu_
};

struct ReporterOptions {
  std::string id;       // frontend --id
  std::string address;  // its --listen
  std::string zone;
  absl::Duration interval = absl::Seconds(10);
  // Read at every report, on the reporter's thread (must be thread-safe
  // and outlive the reporter); unset = report 0.
  std::function<uint64_t()> shard_map_version;
  std::function<uint64_t()> images_generation;
  // Raised to report early; null = the reporter makes its own (reports
  // only every interval).
  std::shared_ptr<ReportSignal> signal;
};

class FrontendReporter {
 public:
  // `load` must outlive the reporter; `metrics` supplies the connection
  // and upload gauges (may be null). `metadata` is the reporter's own
  // client (short deadlines, so Stop() never waits long). Sends the first
  // report at once.
  FrontendReporter(ReporterOptions options,
                   std::unique_ptr<meta::MetadataClient> metadata,
                   const LoadCountingHandler* load, Metrics* metrics);
  ~FrontendReporter();
  void Stop();

 private:
  void Loop();
  meta::FrontendReport Build(double seconds_since_last, uint64_t* answered);

  const ReporterOptions options_;
  const std::unique_ptr<meta::MetadataClient> metadata_;
  const LoadCountingHandler* const load_;
  Gauge* connections_ = nullptr;
  Gauge* uploads_ = nullptr;
  const int64_t started_unix_;
  const std::shared_ptr<ReportSignal> signal_;  // never null
  std::thread thread_;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_REPORTER_H_
