// A frontend's report to the metadata tier (Admin.ReportFrontend, see
// proto/admin.proto): every `interval` it sends its id, address, version,
// zone and load (requests in flight, request rate, uploads in flight, open
// connections) to any metad, which keeps it as a 60 s lease-bound etcd key
// for `berthctl status`. Failures are logged at debug level and retried
// at the next interval; reporting never affects serving.
//
// LoadCountingHandler wraps the registry's HttpHandler to count requests
// (in flight and answered); it is called on connection threads.
// FrontendReporter owns one thread that sleeps between reports; Stop()
// (or the destructor) ends it promptly.
#ifndef BERTH_FRONTEND_REPORTER_H_
#define BERTH_FRONTEND_REPORTER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

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

struct ReporterOptions {
  std::string id;       // frontend --id
  std::string address;  // its --listen
  std::string zone;
  absl::Duration interval = absl::Seconds(10);
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

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_REPORTER_H_
