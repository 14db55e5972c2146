#include "frontend/admin.h"

#include "frontend/http_util.h"

namespace berth::frontend {

void AdminHandler::Handle(HttpExchange& ex) {
  std::string path = ex.target().substr(0, ex.target().find('?'));
  ex.set_route_label("admin");
  if (ex.method() != "GET" && ex.method() != "HEAD") {
    return ex.Respond(405, {{"Allow", "GET, HEAD"},
                            {"Content-Type", "application/json"}},
                      ErrorBody("Method not allowed"));
  }
  if (path == "/metrics") {
    return ex.Respond(200,
                      {{"Content-Type", "text/plain; version=0.0.4"}},
                      metrics_->Render());
  }
  if (path == "/healthz") {
    return ex.Respond(200, {{"Content-Type", "text/plain"}}, "ok\n");
  }
  if (path == "/readyz") {
    absl::Status st = ready_();
    if (st.ok()) {
      return ex.Respond(200, {{"Content-Type", "text/plain"}}, "ready\n");
    }
    return ex.Respond(503, {{"Content-Type", "text/plain"}},
                      std::string("not ready: ") + std::string(st.message()) +
                          "\n");
  }
  ex.Respond(404, {{"Content-Type", "application/json"}},
             ErrorBody("Not found"));
}

}  // namespace berth::frontend
