// `berth`: the server binary. Subcommands:
//   serve     embedded registry (frontend + metadata on the local log + one
//             blob shard) in one process
//   frontend  stateless v1 HTTP frontend of a cluster
//   metad     metadata replica applying the etcd-ordered log
//   blobd     blob shard server
// SIGTERM/SIGINT stop cleanly with exit 0; bad flags, ports or data
// directories print one line and exit non-zero.
#include <cstdio>
#include <functional>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "blobstore/blobd.h"
#include "common/logging.h"
#include "common/options.h"
#include "common/signals.h"
#include "common/tls.h"
#include "frontend/frontend_server.h"
#include "metadata/metad.h"
#include "metadata/metadata_client.h"
#include "spdlog/spdlog.h"
#include "tools/serve.h"

namespace berth {
namespace {

// Starts a server, waits for SIGTERM/SIGINT, stops it.
template <class Server>
int RunUntilSignal(const std::string& name, const CommonOptions& common,
                   const std::function<absl::StatusOr<std::unique_ptr<Server>>()>&
                       start) {
  if (absl::Status st = InitLogging(common.log_level, name); !st.ok()) {
    std::fprintf(stderr, "berth %s: %s\n", name.c_str(),
                 std::string(st.message()).c_str());
    return 2;
  }
  auto server = start();
  if (!server.ok()) {
    std::fprintf(stderr, "berth %s: %s\n", name.c_str(),
                 std::string(server.status().message()).c_str());
    return 1;
  }
  int sig = WaitForStopSignal();
  spdlog::info("signal {}: shutting down", sig);
  (*server)->Shutdown();
  server->reset();
  spdlog::info("stopped");
  return 0;
}

int Main(int argc, char** argv) {
  BlockStopSignals();
  CLI::App app{"Berth: a Docker Registry v1 cluster"};
  app.require_subcommand(1);
  CommonOptions common;

  ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "embedded registry");
  AddCommonOptions(serve_cmd, &common);
  AddServeOptions(serve_cmd, &serve);

  frontend::FrontendOptions fe;
  CLI::App* fe_cmd = app.add_subcommand("frontend", "cluster HTTP frontend");
  AddCommonOptions(fe_cmd, &common);
  frontend::AddFrontendOptions(fe_cmd, &fe, /*cluster=*/true);

  meta::MetadOptions metad;
  CLI::App* metad_cmd = app.add_subcommand("metad", "metadata replica");
  AddCommonOptions(metad_cmd, &common);
  meta::AddMetadOptions(metad_cmd, &metad);

  blob::BlobdOptions blobd;
  CLI::App* blobd_cmd = app.add_subcommand("blobd", "blob shard server");
  AddCommonOptions(blobd_cmd, &common);
  blob::AddBlobdOptions(blobd_cmd, &blobd);

  auto args = ExpandConfigFile(std::vector<std::string>(argv, argv + argc));
  if (!args.ok()) {
    std::fprintf(stderr, "berth: %s\n",
                 std::string(args.status().message()).c_str());
    return 2;
  }
  try {
    // CLI11 takes the arguments in reverse order, without argv[0].
    std::vector<std::string> reversed(args->rbegin(), args->rend() - 1);
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*serve_cmd) {
    return RunUntilSignal<EmbeddedRegistry>(
        "serve", common, [&] { return EmbeddedRegistry::Start(serve); });
  }
  if (*fe_cmd) {
    return RunUntilSignal<frontend::FrontendServer>(
        "frontend", common,
        [&]() -> absl::StatusOr<std::unique_ptr<frontend::FrontendServer>> {
          auto security = tls::LoadChannelSecurity(fe.grpc_tls);
          if (!security.ok()) return security.status();
          auto shards = frontend::DialShards(fe.blobd, *security);
          if (!shards.ok()) return shards.status();
          // --metadata: one or more metad addresses, comma-separated.
          for (absl::string_view a :
               absl::StrSplit(fe.metadata, ',', absl::SkipEmpty())) {
            auto md = ParseHostPort(std::string(a));
            if (!md.ok()) return md.status();
          }
          return frontend::FrontendServer::Start(
              fe,
              meta::DialMetadata(fe.metadata, *security,
                                 fe.metadata_prefer_first),
              std::move(*shards));
        });
  }
  if (*metad_cmd) {
    return RunUntilSignal<meta::MetadServer>(
        "metad", common, [&] { return meta::MetadServer::Start(metad); });
  }
  return RunUntilSignal<blob::BlobServer>(
      "blobd", common, [&] { return blob::BlobServer::Start(blobd); });
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  // Debian's Abseil is built with absl::Mutex deadlock detection on: every
  // lock then updates a global lock graph (GraphCycles, behind one global
  // spinlock), a few percent of a server's CPU in profiles. Servers turn it
  // off; tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return berth::Main(argc, argv);
}
