#include "tools/ctl/context.h"

#include <cstdio>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth::ctl {

std::vector<std::string> Context::Endpoints() const {
  std::vector<std::string> out;
  for (const std::string& e : flags.endpoints) {
    for (absl::string_view part : absl::StrSplit(e, ',', absl::SkipEmpty())) {
      out.emplace_back(part);
    }
  }
  return out;
}

std::string Context::EndpointList() const {
  return absl::StrJoin(Endpoints(), ",");
}

absl::StatusOr<tls::ChannelSecurity> Context::Security() {
  if (!security_.has_value()) {
    auto loaded = tls::LoadChannelSecurity(flags.grpc_tls);
    if (!loaded.ok()) return loaded.status();
    security_ = std::move(*loaded);
  }
  return *security_;
}

absl::StatusOr<meta::MetadataClient*> Context::Metadata() {
  if (metadata_ == nullptr) {
    auto security = Security();
    if (!security.ok()) return security.status();
    meta::MetadataClientOptions options;
    options.call_timeout = absl::Seconds(flags.timeout_seconds);
    auto client =
        meta::MetadataClient::Connect(EndpointList(), options, *security);
    if (!client.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--endpoint: ", client.status().message()));
    }
    metadata_ = std::move(*client);
  }
  return metadata_.get();
}

int Context::Fail(const absl::Status& status) const {
  std::fprintf(stderr, "berthctl: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitFailed;
  }
}

void AddGlobalFlags(CLI::App& app, Context* ctx) {
  ctx->flags.endpoints = {"127.0.0.1:5001"};
  app.add_option("--endpoint,--metadata", ctx->flags.endpoints,
                 "metad gRPC host:port; repeat or comma-separate for several "
                 "replicas (calls fail over between them)")
      ->capture_default_str()
      ->take_all();
  app.add_flag("--json", ctx->flags.json,
               "print JSON (one document) instead of a table");
  app.add_option("--timeout", ctx->flags.timeout_seconds,
                 "deadline of each gRPC attempt, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  tls::AddGrpcTlsOptions(&app, &ctx->flags.grpc_tls, /*server=*/false,
                         /*client=*/true);
}

void OnRun(CLI::App* sub, Context* ctx, std::function<int()> run) {
  sub->parse_complete_callback(
      [ctx, run = std::move(run)] { ctx->action = run; });
}

}  // namespace berth::ctl
