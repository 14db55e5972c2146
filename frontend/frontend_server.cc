#include "frontend/frontend_server.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/str_split.h"
#include "blobstore/cluster_shards.h"
#include "common/options.h"
#include "spdlog/spdlog.h"

namespace berth::frontend {

void AddFrontendOptions(CLI::App* app, FrontendOptions* options, bool cluster) {
  app->add_option("--listen", options->listen, "HTTP address host:port")
      ->capture_default_str();
  app->add_option("--public-endpoint", options->public_endpoint,
                  "host[:port] clients reach the registry at "
                  "(X-Docker-Endpoints); default: the request's Host");
  app->add_option("--chunk-size", options->chunk_size,
                  "layer chunk size in bytes")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{4096}, uint64_t{64} << 20));
  app->add_option("--max-json-size", options->max_json_size,
                  "largest image json accepted, bytes")
      ->capture_default_str();
  app->add_option("--max-connections", options->max_connections,
                  "concurrent HTTP connections")
      ->capture_default_str();
  app->add_option("--max-layer-size", options->max_layer_size,
                  "largest layer accepted, bytes (0 = unlimited)")
      ->capture_default_str();
  app->add_option("--max-uploads", options->max_uploads,
                  "concurrent layer uploads (more get 503)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--header-timeout", options->header_timeout_s,
                  "seconds to receive a request header (408 after)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--idle-timeout", options->idle_timeout_s,
                  "seconds an idle keep-alive connection stays open")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--io-timeout", options->io_timeout_s,
                  "seconds a body read or response write may stall")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--drain-timeout", options->drain_timeout_s,
                  "seconds in-flight requests get to finish on SIGTERM")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--shutdown-delay", options->shutdown_delay_s,
                  "seconds to keep serving on SIGTERM with /readyz answering "
                  "503, so load balancers and DNS health checks stop sending "
                  "new clients before the drain starts")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--auth", options->auth,
                  "none (standalone, everything allowed), basic (standalone "
                  "with accounts) or index (index mode: tokens)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "basic", "index"}));
  app->add_option("--token-lifetime", options->token_lifetime_s,
                  "seconds a token stays valid")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--signup", options->signup,
                  "allow account sign-up (POST /v1/users/)")
      ->capture_default_str();
  app->add_option("--encryption", options->encryption,
                  "support encrypted images (X-Docker-Encrypt, spec §6)")
      ->capture_default_str();
  app->add_option("--admin-user", options->admin_user,
                  "first administrator, created at start if missing");
  app->add_option("--admin-password-file", options->admin_password_file,
                  "file whose first line is the first administrator's "
                  "password");
  app->add_option("--tls-cert", options->tls_cert,
                  "PEM certificate chain: serve HTTPS (TLS 1.2+) with it "
                  "(needs --tls-key)");
  app->add_option("--tls-key", options->tls_key,
                  "PEM private key of --tls-cert");
  app->add_option("--admin-listen", options->admin_listen,
                  "address of /metrics, /healthz, /readyz (empty = off)")
      ->capture_default_str();
  if (!cluster) return;
  app->add_option("--metadata", options->metadata,
                  "metad gRPC addresses: comma-separated host:port list")
      ->capture_default_str();
  app->add_option("--blobd", options->blobd,
                  "blob shards, comma-separated "
                  "id=host:port[@zone[:weight[:state]]]")
      ->capture_default_str();
  app->add_option("--replicas", options->replicas,
                  "copies of each chunk (R)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app->add_option("--write-quorum", options->write_quorum,
                  "shards that must ack each chunk (W <= R)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app->add_option("--zone", options->zone,
                  "this frontend's zone; reads prefer same-zone shards");
  app->add_option("--metadata-timeout", options->metadata_timeout_s,
                  "seconds one metadata call may take, failover included, "
                  "before the request answers 503 (0 = no bound)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--metadata-prefer-first", options->metadata_prefer_first,
                  "send metadata calls to the first --metadata address that "
                  "connects, in list order (list this zone's metad first), "
                  "instead of round-robin over all")
      ->capture_default_str();
  app->add_option("--id", options->id,
                  "this frontend's name in berthctl status (default: the "
                  "--listen address)");
  options->report_interval_s = 10;
  app->add_option("--report-interval", options->report_interval_s,
                  "seconds between reports (id, version, zone, load) to the "
                  "metadata tier; 0 = never")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  options->shard_map_interval_s = 2;
  app->add_option("--shard-map-interval", options->shard_map_interval_s,
                  "seconds between reads of the shard map in metadata (set "
                  "by berthctl shards ...; it replaces --blobd once it "
                  "exists); 0 = use --blobd only")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  tls::AddGrpcTlsOptions(app, &options->grpc_tls, /*server=*/false,
                         /*client=*/true);
}

absl::StatusOr<std::vector<blob::Shard>> DialShards(
    const std::string& spec, const tls::ChannelSecurity& security) {
  auto map = blob::ParseShardMap(spec);
  if (!map.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--blobd: ", map.status().message()));
  }
  std::vector<blob::Shard> shards;
  for (blob::ShardInfo& info : *map) {
    shards.push_back({info, blob::DialShard(info.id, info.address, security)});
  }
  return shards;
}

absl::StatusOr<std::unique_ptr<FrontendServer>> FrontendServer::Start(
    const FrontendOptions& options,
    std::shared_ptr<grpc::Channel> metadata_channel,
    std::vector<blob::Shard> shards) {
  // Unusable HTTPS files fail the start before anything else happens (the
  // HTTP server loads them again when it starts, last).
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    auto pair = tls::LoadCertAndKey(options.tls_cert, "--tls-cert",
                                    options.tls_key, "--tls-key");
    if (!pair.ok()) return pair.status();
  }
  std::unique_ptr<FrontendServer> server(new FrontendServer());
  meta::MetadataClientOptions metadata_options;
  if (options.metadata_timeout_s > 0) {
    metadata_options.total_timeout = absl::Seconds(options.metadata_timeout_s);
  }
  server->metadata_ = std::make_unique<meta::MetadataClient>(
      metadata_channel, metadata_options);
  if (options.write_quorum > options.replicas) {
    return absl::InvalidArgumentError(
        absl::StrCat("--write-quorum ", options.write_quorum,
                     " exceeds --replicas ", options.replicas));
  }
  blob::BlobClientOptions blob_options;
  blob_options.chunk_size = options.chunk_size;
  blob_options.replicas = options.replicas;
  blob_options.write_quorum = options.write_quorum;
  blob_options.zone = options.zone;
  auto seed = std::make_shared<blob::BlobClient>(std::move(shards), blob_options);
  if (seed->replicas() < static_cast<size_t>(options.replicas)) {
    spdlog::warn("only {} active blob shard(s): storing {} cop(ies) per "
                 "chunk, write quorum {}",
                 seed->replicas(), seed->replicas(), seed->write_quorum());
  }
  if (seed->replicas() == 0) {
    return absl::InvalidArgumentError("--blobd has no active shard");
  }
  server->blobs_ = std::make_unique<BlobClientHolder>(std::move(seed));
  // Raised when the frontend adopts a new shard map or images-deleted
  // generation: the reporter then reports at once (berthctl shards drain
  // waits for those reports).
  auto report_signal = std::make_shared<ReportSignal>();
  if (options.shard_map_interval_s > 0) {
    // The shard map in metadata, once `berthctl shards add` wrote one,
    // replaces the --blobd seed: read once now (so a restarted frontend
    // starts on the current map), then every interval.
    ShardMapFollowerOptions follow;
    follow.blob_options = blob_options;
    follow.interval = absl::Seconds(options.shard_map_interval_s);
    auto security = tls::LoadChannelSecurity(options.grpc_tls);
    if (!security.ok()) return security.status();
    follow.security = *security;
    // gc deleted images: the registry's image cache must forget them.
    follow.on_config = [generation = &server->images_generation_,
                        report_signal](const meta::ClusterConfig& config) {
      if (generation->exchange(config.images_deleted_generation()) !=
          config.images_deleted_generation()) {
        report_signal->Raise();
      }
    };
    follow.on_adopted = [report_signal](uint64_t) { report_signal->Raise(); };
    server->shard_map_ = std::make_unique<ShardMapFollower>(
        server->metadata_.get(), server->blobs_.get(), std::move(follow));
    if (auto polled = server->shard_map_->PollOnce(); !polled.ok()) {
      spdlog::warn("shard map not read yet ({}); using --blobd until it is",
                   polled.status().ToString());
    }
    server->shard_map_->Start();
  }
  AccessOptions access_options;
  access_options.mode = options.auth == "basic"   ? AuthMode::kBasic
                        : options.auth == "index" ? AuthMode::kIndex
                                                  : AuthMode::kNone;
  access_options.token_lifetime = absl::Seconds(options.token_lifetime_s);
  access_options.signup = options.signup;
  server->access_ =
      std::make_unique<AccessControl>(access_options, server->metadata_.get());
  if (absl::Status st = server->EnsureAdministrator(options); !st.ok()) {
    return st;
  }
  RegistryOptions registry_options;
  registry_options.encryption = options.encryption;
  registry_options.public_endpoint = options.public_endpoint;
  registry_options.max_json_size = options.max_json_size;
  registry_options.max_layer_size = options.max_layer_size;
  registry_options.max_uploads = options.max_uploads;
  registry_options.metrics = &server->metrics_;
  registry_options.images_generation = &server->images_generation_;
  server->registry_ = std::make_unique<Registry>(
      registry_options, server->metadata_.get(), server->blobs_.get(),
      server->access_.get());
  HttpServerOptions http_options;
  http_options.listen = options.listen;
  http_options.max_connections = options.max_connections;
  http_options.header_timeout = absl::Seconds(options.header_timeout_s);
  http_options.idle_timeout = absl::Seconds(options.idle_timeout_s);
  http_options.io_timeout = absl::Seconds(options.io_timeout_s);
  http_options.drain_timeout = absl::Seconds(options.drain_timeout_s);
  server->shutdown_delay_ = absl::Seconds(options.shutdown_delay_s);
  http_options.metrics = &server->metrics_;
  http_options.tls_cert_file = options.tls_cert;
  http_options.tls_key_file = options.tls_key;
  if (!options.admin_listen.empty()) {
    FrontendServer* self = server.get();
    server->admin_handler_ = std::make_unique<AdminHandler>(
        &server->metrics_, [self] { return self->Ready(); });
    HttpServerOptions admin_options;
    admin_options.listen = options.admin_listen;
    admin_options.max_connections = 64;
    admin_options.access_log = false;
    auto admin = HttpServer::Start(admin_options, server->admin_handler_.get());
    if (!admin.ok()) return admin.status();
    server->admin_ = std::move(*admin);
  }
  server->load_ = std::make_unique<LoadCountingHandler>(
      server->registry_.get(), &server->metrics_);
  auto http = HttpServer::Start(http_options, server->load_.get());
  if (!http.ok()) return http.status();
  server->http_ = std::move(*http);
  if (options.report_interval_s > 0) {
    ReporterOptions ro;
    ro.id = options.id.empty() ? options.listen : options.id;
    ro.address = options.listen;
    ro.zone = options.zone;
    ro.interval = absl::Seconds(options.report_interval_s);
    ro.signal = report_signal;
    // shard_map_ and images_generation_ outlive the reporter (Shutdown
    // stops it first).
    FrontendServer* self = server.get();
    ro.shard_map_version = [self]() -> uint64_t {
      return self->shard_map_ ? self->shard_map_->version() : 0;
    };
    ro.images_generation = [self]() -> uint64_t {
      return self->images_generation_.load();
    };
    // Its own client: short deadlines, so a report never delays shutdown.
    meta::MetadataClientOptions mo;
    mo.call_timeout = absl::Seconds(2);
    mo.attempts = 2;
    server->reporter_ = std::make_unique<FrontendReporter>(
        ro,
        std::make_unique<meta::MetadataClient>(metadata_channel,
                                               mo),
        server->load_.get(), &server->metrics_);
  }
  spdlog::info("frontend serving {} on {}{}",
               options.tls_cert.empty() ? "HTTP" : "HTTPS", options.listen,
               options.admin_listen.empty()
                   ? ""
                   : absl::StrCat(", admin on ", options.admin_listen));
  return server;
}

absl::Status FrontendServer::EnsureAdministrator(
    const FrontendOptions& options) {
  if (options.admin_user.empty()) return absl::OkStatus();
  std::ifstream in(options.admin_password_file);
  std::string password;
  if (!in || !std::getline(in, password) || password.size() < 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--admin-password-file '", options.admin_password_file,
        "' must hold a password of at least 5 characters"));
  }
  auto result = metadata_->CreateUser(options.admin_user, password, "",
                                      /*admin=*/true, /*active=*/true,
                                      absl::ToUnixSeconds(absl::Now()));
  if (!result.ok()) return result.status();
  if (result->error().reason() != REASON_UNSPECIFIED &&
      result->error().reason() != USER_ALREADY_EXISTS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot create administrator '", options.admin_user,
        "': ", result->error().message()));
  }
  return absl::OkStatus();
}

absl::Status FrontendServer::Ready() {
  if (shutting_down_.load()) {
    return absl::UnavailableError("shutting down (draining)");
  }
  // A linearizable read succeeds only through a replica that is caught up
  // with the log (an unknown image id is a fine answer).
  meta::GetImageRequest probe;
  probe.set_id(std::string(64, '0'));
  auto response = metadata_->GetImage(probe);
  if (!response.ok()) return response.status();
  // Enough shards: an upload needs the write quorum of active shards to
  // answer. A stat of an absent chunk is a cheap round trip to each.
  size_t reachable = 0;
  std::string last_error;
  const std::string absent(64, '0');
  const std::shared_ptr<blob::BlobClient> blobs = blobs_->Get();
  for (const blob::Shard& shard : blobs->shards()) {
    if (shard.info.state != blob::ShardState::kActive) continue;
    auto stat = shard.conn->StatChunk(absent, absl::Now() + absl::Seconds(2));
    if (stat.ok() || absl::IsNotFound(stat.status())) {
      ++reachable;
    } else {
      last_error = absl::StrCat(shard.info.id, ": ", stat.status().message());
    }
  }
  if (reachable < blobs->write_quorum()) {
    return absl::UnavailableError(absl::StrCat(
        reachable, " blob shards reachable, the write quorum is ",
        blobs->write_quorum(), last_error.empty() ? "" : "; ", last_error));
  }
  return absl::OkStatus();
}

FrontendServer::~FrontendServer() { Shutdown(); }

void FrontendServer::Shutdown() {
  if (reporter_) reporter_->Stop();
  if (shard_map_) shard_map_->Stop();
  // Not ready from now on; keep serving for the shutdown delay so health
  // checks take this frontend out of rotation before it stops accepting.
  if (!shutting_down_.exchange(true) && http_ && shutdown_delay_ > absl::ZeroDuration()) {
    spdlog::info("shutting down: /readyz answers 503, serving for {} more",
                 absl::FormatDuration(shutdown_delay_));
    absl::SleepFor(shutdown_delay_);
  }
  // Drain the registry port first; the admin port answers until the end.
  if (http_) http_->Shutdown();
  if (admin_) admin_->Shutdown();
}

}  // namespace berth::frontend
