// The frontend's admin port: /metrics (Prometheus text), /healthz (the
// process answers) and /readyz (it can serve: a caught-up metadata replica
// and the blob shards answer). Runs on the admin HttpServer's threads.
#ifndef BERTH_FRONTEND_ADMIN_H_
#define BERTH_FRONTEND_ADMIN_H_

#include <functional>

#include "absl/status/status.h"
#include "common/metrics.h"
#include "frontend/http_exchange.h"

namespace berth::frontend {

class AdminHandler final : public HttpHandler {
 public:
  // `ready` returns OK when the frontend can serve, else why not.
  AdminHandler(Metrics* metrics, std::function<absl::Status()> ready)
      : metrics_(metrics), ready_(std::move(ready)) {}
  void Handle(HttpExchange& ex) override;

 private:
  Metrics* const metrics_;
  const std::function<absl::Status()> ready_;
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_ADMIN_H_
