// `berth metad`: one metadata replica that applies the etcd-ordered log to
// its own RocksDB and serves the Metadata and Admin gRPC services.
// tools/ owns main().
//
// Besides serving, a metad
//  - registers itself in etcd under <log-key>/replicas/<id> (a leased key,
//    refreshed every heartbeat) with its applied and durably applied
//    positions, so peers know who is live and how far each got;
//  - trims the log: the live replica with the smallest id periodically
//    compacts etcd below min(durable applied of live replicas) - margin
//    and defragments the members when much space is free;
//  - bootstraps from a peer's checkpoint when its store is new or wiped,
//    and again whenever its position was compacted away (OUT_OF_RANGE).
//
// Threads: gRPC threads run the services; one maintenance thread owns the
// heartbeat, trimming and re-bootstrap. The current replica is a
// shared_ptr under replica_mu_ (null while bootstrapping).
#ifndef BERTH_METADATA_METAD_H_
#define BERTH_METADATA_METAD_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/tls.h"
#include "proto/admin.pb.h"

namespace grpc {
class Server;
}

namespace berth::meta {

class Replica;
class MetadataService;
class AdminService;
class EtcdLog;

struct MetadOptions {
  std::string listen = "127.0.0.1:5001";
  std::string data = "./berth-data/metad";
  std::string etcd = "127.0.0.1:2379";  // comma-separated host:port list
  std::string log_key = "/berth/log";
  std::string replica_id;               // "" = the --advertise address
  std::string advertise;                // "" = --listen
  std::string bootstrap = "auto";       // auto | never
  double heartbeat_seconds = 1.0;
  int lease_ttl_seconds = 10;
  double trim_interval_seconds = 30;    // 0 = no periodic trimming
  uint64_t trim_margin = 10000;         // log positions kept below the min
  double apply_timeout_seconds = 30;
  // Group commit (replica.h): commands per log entry (1 = off) and
  // appends running at once per replica.
  int max_batch_commands = 1024;
  int max_appends_in_flight = 1;
  double result_retention_seconds = 3600;  // see ReplicaOptions
  // gRPC TLS (common/tls.h): the server's files; the same certificate and
  // CA are used when this replica dials a peer (checkpoints, status).
  tls::GrpcTlsFiles grpc_tls;
  std::string zone;                     // shown by berthctl status
};

void AddMetadOptions(CLI::App* app, MetadOptions* options);

class MetadServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetadServer>> Start(
      const MetadOptions& options);
  ~MetadServer();
  int port() const { return port_; }
  void Shutdown();

  // For the services (any thread).
  std::shared_ptr<Replica> replica();
  absl::StatusOr<StatusResponse> Status();
  absl::StatusOr<TrimResponse> Trim(bool defragment);
  std::string scratch_dir() const { return options_.data + "/checkpoints"; }
  // Frontend reports and the replica roster: etcd keys outside the log
  // (metad_admin.cc; see proto/admin.proto).
  absl::Status ReportFrontend(FrontendReport report);
  absl::StatusOr<ListReplicasResponse> ListReplicasWithRoster();
  absl::StatusOr<AddReplicaResponse> AddReplica(const ReplicaMember& member);
  absl::Status RemoveReplica(const std::string& id, bool force);

 private:
  explicit MetadServer(const MetadOptions& options);
  std::string store_dir() const { return options_.data + "/store"; }
  std::string replicas_prefix() const { return options_.log_key + "/replicas/"; }
  std::string members_prefix() const { return options_.log_key + "/members/"; }
  std::string frontends_prefix() const {
    return options_.log_key + "/frontends/";
  }
  absl::StatusOr<std::vector<ReplicaMember>> ListMembers();
  // Frontends whose report is at most a minute old.
  absl::StatusOr<std::vector<FrontendReport>> ListFrontends();
  // Adds this replica to the roster unless it is there (maintenance
  // thread, until it succeeds once).
  void JoinRoster();
  // Opens the store (bootstrapping it from a peer first when it is new,
  // or always with `force`) and starts a replica on it.
  absl::Status OpenReplica(bool force_bootstrap);
  absl::Status BootstrapFromPeer();
  absl::StatusOr<std::vector<ReplicaStatus>> ListReplicas();
  // A live replica's durable position, asked of it directly (Admin.Status,
  // 2 s deadline); the registered value if it does not answer.
  uint64_t FreshDurable(const ReplicaStatus& registered);
  void MaintenanceLoop();
  void Heartbeat();
  void Rebootstrap();

  const MetadOptions options_;
  std::string id_;
  std::string advertise_;
  std::unique_ptr<EtcdLog> etcd_;  // maintenance calls; never tails
  tls::ChannelSecurity peer_security_;  // set in Start, then read-only
  std::unique_ptr<MetadataService> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  std::mutex replica_mu_;
  std::shared_ptr<Replica> replica_;  // guarded by replica_mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;                 // guarded by stop_mu_
  std::atomic<bool> needs_bootstrap_{false};
  std::thread maintenance_;
  int64_t lease_ = 0;                 // maintenance thread only
  bool joined_roster_ = false;        // maintenance thread only

  std::mutex trim_mu_;                // serializes Trim
  std::atomic<uint64_t> compacted_{0};
};

}  // namespace berth::meta

#endif  // BERTH_METADATA_METAD_H_
