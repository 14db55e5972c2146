#include "tests/berth_serve.h"

#include "absl/strings/str_cat.h"
#include "tests/harness/http.h"

namespace berth::testing {

bool PingOk(int port) {
  absl::StatusOr<HttpResponse> r =
      HttpGet("127.0.0.1", port, "/v1/_ping", absl::Seconds(2));
  return r.ok() && r->status == 200;
}

absl::StatusOr<std::unique_ptr<Process>> StartServeBinary(
    const std::string& binary, int port, const std::string& data,
    const std::string& log_path, const std::vector<std::string>& extra,
    absl::Duration timeout) {
  ProcessOptions o;
  o.name = "serve";
  o.argv = {binary, "serve", "--listen", absl::StrCat("127.0.0.1:", port),
            "--data", data};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  o.log_path = log_path;
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(o);
  if (!p.ok()) return p.status();
  Process* proc = p->get();
  bool exited = false;
  bool ready = WaitFor(
      [&] {
        if (!proc->Alive()) {
          exited = true;
          return true;
        }
        return PingOk(port);
      },
      timeout);
  if (exited || !ready) {
    return absl::UnavailableError(absl::StrCat(
        "berth serve on port ", port,
        exited ? " exited before answering the ping"
               : " did not answer the ping in time",
        "; log tail:\n", proc->LogTail(30)));
  }
  return p;
}

absl::StatusOr<std::unique_ptr<Process>> StartServe(int port,
                                                    const std::string& data,
                                                    const std::string& log_dir,
                                                    absl::Duration timeout) {
  return StartServeBinary(RunfilePath("tools/berth"), port, data,
                          log_dir.empty() ? "" : log_dir + "/serve.log", {},
                          timeout);
}

}  // namespace berth::testing
