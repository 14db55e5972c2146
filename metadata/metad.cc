// MetadServer: flags, start/stop, opening (and bootstrapping) the replica.
// Heartbeat, trimming and status: metad_maintenance.cc.
#include "metadata/metad.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/options.h"
#include "metadata/admin_service.h"
#include "metadata/checkpoint.h"
#include "metadata/etcd_log.h"
#include "metadata/metadata_service.h"
#include "metadata/replica.h"
#include "spdlog/spdlog.h"

namespace berth::meta {

namespace fs = std::filesystem;

void AddMetadOptions(CLI::App* app, MetadOptions* options) {
  app->add_option("--listen", options->listen, "gRPC address host:port")
      ->capture_default_str();
  app->add_option("--data", options->data,
                  "data directory (RocksDB in DATA/store)")
      ->capture_default_str();
  app->add_option("--etcd", options->etcd,
                  "etcd client endpoints, comma-separated host:port")
      ->capture_default_str();
  app->add_option("--log-key", options->log_key, "etcd key of the log")
      ->capture_default_str();
  app->add_option("--replica-id", options->replica_id,
                  "this replica's id (default: the advertised address)");
  app->add_option("--advertise", options->advertise,
                  "host:port peers reach this replica at (default: --listen)");
  app->add_option("--bootstrap", options->bootstrap,
                  "auto: a new or wiped store starts from a peer's "
                  "checkpoint; never: apply the log from the start")
      ->check(CLI::IsMember({"auto", "never"}))
      ->capture_default_str();
  app->add_option("--heartbeat", options->heartbeat_seconds,
                  "seconds between registrations in etcd")
      ->check(CLI::Range(0.05, 60.0))
      ->capture_default_str();
  app->add_option("--lease-ttl", options->lease_ttl_seconds,
                  "seconds after which a silent replica counts as gone")
      ->check(CLI::Range(2, 600))
      ->capture_default_str();
  app->add_option("--trim-interval", options->trim_interval_seconds,
                  "seconds between log trims (0 = only on request)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app->add_option("--trim-margin", options->trim_margin,
                  "log positions kept below the lowest durably applied one")
      ->capture_default_str();
  app->add_option("--apply-timeout", options->apply_timeout_seconds,
                  "seconds a write or read waits for the log")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app->add_option("--max-batch-commands", options->max_batch_commands,
                  "group commit: commands per log entry (1 = one per entry)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app->add_option("--max-appends-in-flight", options->max_appends_in_flight,
                  "group commit: log appends this replica runs at once")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app->add_option("--zone", options->zone,
                  "this replica's zone or datacenter (shown by berthctl)");
  app->add_option("--result-retention", options->result_retention_seconds,
                  "seconds a command's result is kept for retries")
      ->check(CLI::Range(1.0, 30.0 * 86400))
      ->capture_default_str();
  tls::AddGrpcTlsOptions(app, &options->grpc_tls, /*server=*/true,
                         /*client=*/true);
}

absl::StatusOr<std::unique_ptr<MetadServer>> MetadServer::Start(
    const MetadOptions& options) {
  // Debian's Abseil checks every absl::Mutex acquisition (gRPC's too)
  // for lock-order cycles; that bookkeeping was a visible share of a
  // metad's CPU under load. Process-wide; metad owns its process.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto listen = ParseHostPort(options.listen);
  if (!listen.ok()) return listen.status();
  // Fail on a busy port before the replica starts (and logs).
  if (absl::Status st = CheckListenable(*listen); !st.ok()) return st;
  if (absl::Status st = EnsureDataDir(options.data); !st.ok()) return st;
  // TLS files are checked before anything starts.
  auto server_credentials = tls::GrpcServerCredentials(options.grpc_tls);
  if (!server_credentials.ok()) return server_credentials.status();
  auto peer_security = tls::LoadChannelSecurity(options.grpc_tls);
  if (!peer_security.ok()) return peer_security.status();
  std::unique_ptr<MetadServer> server(new MetadServer(options));
  server->peer_security_ = std::move(*peer_security);
  server->advertise_ =
      options.advertise.empty() ? options.listen : options.advertise;
  server->id_ =
      options.replica_id.empty() ? server->advertise_ : options.replica_id;
  EtcdLogOptions log_options;
  log_options.endpoints = absl::StrSplit(options.etcd, ',', absl::SkipEmpty());
  log_options.log_key = options.log_key;
  if (log_options.endpoints.empty()) {
    return absl::InvalidArgumentError("--etcd names no endpoint");
  }
  auto etcd = EtcdLog::Create(log_options);
  if (!etcd.ok()) return etcd.status();
  server->etcd_ = std::move(*etcd);

  if (absl::Status st = server->OpenReplica(/*force_bootstrap=*/false);
      !st.ok()) {
    return st;
  }
  MetadServer* self = server.get();
  server->service_ =
      std::make_unique<MetadataService>([self] { return self->replica(); });
  server->admin_ = std::make_unique<AdminService>(self);
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second metad on a busy port would
  // silently share it instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen->ToString(), *server_credentials,
                           &server->port_);
  // Writes and linearizable reads block their gRPC thread while the log
  // moves, so under load many handlers wait at once. Keep the threads:
  // gRPC's default (at most 2 idle pollers) ends surplus threads and
  // creates them again on the next burst, which cost more CPU than the
  // calls themselves on a 2-core machine.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              512);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->admin_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  server->maintenance_ = std::thread(&MetadServer::MaintenanceLoop, self);
  spdlog::info("metad {} serving on {} (etcd {})", server->id_, options.listen,
               options.etcd);
  return server;
}

MetadServer::MetadServer(const MetadOptions& options) : options_(options) {}

MetadServer::~MetadServer() { Shutdown(); }

void MetadServer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
    stop_cv_.notify_all();
  }
  if (maintenance_.joinable()) maintenance_.join();
  if (lease_ != 0 && etcd_) {
    (void)etcd_->RevokeLease(lease_);  // deregister at once
    lease_ = 0;
  }
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
    server_.reset();
  }
  std::shared_ptr<Replica> replica;
  {
    std::lock_guard<std::mutex> lock(replica_mu_);
    replica = std::move(replica_);
  }
  if (replica) replica->Stop();
}

std::shared_ptr<Replica> MetadServer::replica() {
  std::lock_guard<std::mutex> lock(replica_mu_);
  return replica_;
}

absl::Status MetadServer::BootstrapFromPeer() {
  absl::StatusOr<std::vector<ReplicaStatus>> peers = ListReplicas();
  if (!peers.ok()) return peers.status();
  // Most advanced peer first.
  std::sort(peers->begin(), peers->end(),
            [](const ReplicaStatus& a, const ReplicaStatus& b) {
              return a.applied() > b.applied();
            });
  const std::string incoming = store_dir() + ".bootstrap";
  absl::Status last = absl::NotFoundError("no live peer to bootstrap from");
  for (const ReplicaStatus& peer : *peers) {
    if (peer.id() == id_ || peer.applied() == 0) continue;
    std::error_code ec;
    fs::remove_all(incoming, ec);
    absl::StatusOr<uint64_t> position =
        FetchCheckpoint(peer.address(), incoming, absl::Minutes(10),
                        peer_security_);
    if (!position.ok()) {
      spdlog::warn("bootstrap from {} ({}) failed: {}", peer.id(),
                   peer.address(), position.status().ToString());
      last = position.status();
      continue;
    }
    fs::remove_all(store_dir(), ec);
    fs::rename(incoming, store_dir(), ec);
    if (ec) return absl::InternalError(absl::StrCat("rename: ", ec.message()));
    spdlog::info("bootstrapped from {} at position {}", peer.id(), *position);
    return absl::OkStatus();
  }
  return last;
}

absl::Status MetadServer::OpenReplica(bool force_bootstrap) {
  bool bootstrap = force_bootstrap;
  if (!bootstrap && options_.bootstrap == "auto") {
    // New or wiped: no store, or one that never applied anything.
    bool fresh = !fs::exists(store_dir() + "/CURRENT");
    if (!fresh) {
      auto store = Store::Open(store_dir());
      if (!store.ok()) return store.status();
      auto applied = (*store)->ReadAppliedPosition();
      fresh = applied.ok() && *applied == 0;
    }
    bootstrap = fresh;
  }
  if (bootstrap) {
    absl::Status st = BootstrapFromPeer();
    if (!st.ok()) {
      if (force_bootstrap) return st;
      // First replica of a cluster, or etcd unreachable: apply the log
      // from the start; a compacted start re-bootstraps later.
      spdlog::info("no checkpoint bootstrap ({}); applying the log from the "
                   "start", st.ToString());
    }
  }
  auto store = Store::Open(store_dir());
  if (!store.ok()) return store.status();
  EtcdLogOptions log_options;
  log_options.endpoints = absl::StrSplit(options_.etcd, ',', absl::SkipEmpty());
  log_options.log_key = options_.log_key;
  auto log = EtcdLog::Create(log_options);
  if (!log.ok()) return log.status();
  // A store ahead of the log belongs to another log (e.g. a checkpoint
  // restored against a new etcd): tailing from its position would skip
  // every entry the new log gives positions it already "applied". Refuse.
  // (If etcd is unreachable now, start: tailing waits for it anyway.)
  if (auto applied = (*store)->ReadAppliedPosition(); applied.ok() && *applied > 0) {
    absl::StatusOr<uint64_t> last = (*log)->LastPosition();
    if (last.ok() && *last < *applied) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the store under ", store_dir(), " has applied log position ",
          *applied, " but the etcd log (key ", options_.log_key,
          ") ends at ", *last,
          ": the store belongs to another log; restore etcd from a snapshot "
          "taken after this store's checkpoint, or start on an empty --data"));
    }
  }
  ReplicaOptions ro;
  ro.apply_timeout = absl::Seconds(options_.apply_timeout_seconds);
  ro.max_batch_commands = static_cast<size_t>(options_.max_batch_commands);
  ro.max_appends_in_flight = options_.max_appends_in_flight;
  ro.result_retention = absl::Seconds(options_.result_retention_seconds);
  ro.on_tail_error = [this](const absl::Status& error) {
    // On the log's thread: only flag it; the maintenance thread acts.
    if (absl::IsOutOfRange(error)) {
      spdlog::error("this replica's log position was compacted away; "
                    "re-bootstrapping from a peer's checkpoint");
    }
    needs_bootstrap_.store(true);
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_cv_.notify_all();
  };
  auto replica = Replica::Start(std::move(*store), std::move(*log), ro);
  if (!replica.ok()) return replica.status();
  std::lock_guard<std::mutex> lock(replica_mu_);
  replica_ = std::shared_ptr<Replica>(std::move(*replica));
  return absl::OkStatus();
}

}  // namespace berth::meta
