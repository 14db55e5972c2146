// Shared state of one berthctl run: the global flags, the lazily opened
// connections to the cluster, and the action the chosen subcommand set.
//
// Each command module (tools/ctl/*_cmds.cc) adds its subcommands to the
// CLI11 app in an Add*Commands function; a subcommand's parse callback
// stores what to run in Context::action, and main runs it after parsing.
// Single-threaded: one Context per process, owned by main.
#ifndef BERTH_TOOLS_CTL_CONTEXT_H_
#define BERTH_TOOLS_CTL_CONTEXT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tls.h"
#include "metadata/metadata_client.h"

namespace berth::ctl {

// Exit codes of every berthctl command.
constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;     // the named object does not exist
constexpr int kExitUsage = 2;        // bad flags or arguments
constexpr int kExitUnavailable = 3;  // no replica/shard answered
constexpr int kExitFailed = 5;       // the operation ran and failed

struct GlobalFlags {
  // Metadata replicas ("host:port", several allowed; --endpoint may be
  // repeated or comma-separated).
  std::vector<std::string> endpoints = {"127.0.0.1:5001"};
  bool json = false;
  double timeout_seconds = 10;  // deadline of each gRPC attempt
  // --grpc-tls-ca/-cert/-key/-server-name: TLS to metad and blobd.
  tls::GrpcTlsFiles grpc_tls;
};

class Context {
 public:
  GlobalFlags flags;
  // Set by the chosen subcommand's callback; returns the exit code.
  std::function<int()> action;

  // The metadata client over flags.endpoints, connected on first use.
  absl::StatusOr<meta::MetadataClient*> Metadata();
  // TLS of every gRPC channel (from flags.grpc_tls, loaded on first use;
  // insecure without those flags). INVALID_ARGUMENT for unusable files.
  absl::StatusOr<tls::ChannelSecurity> Security();
  // flags.endpoints as one "a,b,c" string (each entry may hold commas).
  std::string EndpointList() const;
  std::vector<std::string> Endpoints() const;

  // Prints "berthctl: <message>" to stderr and returns the exit code for
  // `status` (UNAVAILABLE/DEADLINE_EXCEEDED -> 3, NOT_FOUND -> 1,
  // INVALID_ARGUMENT -> 2, else 5).
  int Fail(const absl::Status& status) const;

 private:
  std::unique_ptr<meta::MetadataClient> metadata_;
  std::optional<tls::ChannelSecurity> security_;
};

// Adds --endpoint/--metadata, --json, --timeout and --grpc-tls-* to `app`.
void AddGlobalFlags(CLI::App& app, Context* ctx);

// Registers `sub` so that, when given, `run` becomes ctx->action.
void OnRun(CLI::App* sub, Context* ctx, std::function<int()> run);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_CONTEXT_H_
