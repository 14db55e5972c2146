#include "tests/metad_cluster.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/sha256.h"

namespace berth::testing {

std::string ImageId(const std::string& prefix, uint64_t n) {
  return Sha256Hex(absl::StrCat(prefix, "/", n));
}

meta::Command PutJsonCommand(const std::string& id, size_t json_bytes) {
  meta::Command c;
  std::string json = absl::StrCat("{\"id\":\"", id, "\",\"pad\":\"");
  if (json.size() + 2 < json_bytes) json.append(json_bytes - json.size() - 2, 'x');
  json += "\"}";
  c.mutable_put_image_json()->set_id(id);
  c.mutable_put_image_json()->set_json(json);
  c.mutable_put_image_json()->set_now_unix(1700000000);
  return c;
}

absl::StatusOr<std::unique_ptr<MetadCluster>> MetadCluster::Start(
    int etcd_members, int metads, std::vector<std::string> metad_flags,
    std::vector<std::string> etcd_flags) {
  std::unique_ptr<MetadCluster> c(new MetadCluster());
  EtcdClusterOptions eo;
  eo.members = etcd_members;
  eo.extra_flags = std::move(etcd_flags);
  auto etcd = EtcdCluster::Start(eo);
  if (!etcd.ok()) return etcd.status();
  c->etcd_ = std::move(*etcd);
  c->flags_ = std::move(metad_flags);
  for (int i = 0; i < metads; ++i) {
    Metad m;
    m.port = FreePort();
    m.dir = MakeTempDir(absl::StrCat("metad", i, "-"));
    c->metads_.push_back(std::move(m));
  }
  c->RebuildClients();
  for (int i = 0; i < metads; ++i) {
    if (absl::Status st = c->StartMetad(i); !st.ok()) return st;
  }
  return c;
}

std::string MetadCluster::address(int i) const {
  return absl::StrCat("127.0.0.1:", metads_[i].port);
}

std::string MetadCluster::addresses() const {
  std::vector<std::string> all;
  for (int i = 0; i < size(); ++i) all.push_back(address(i));
  return absl::StrJoin(all, ",");
}

void MetadCluster::RebuildClients() {
  meta::MetadataClientOptions o;
  o.call_timeout = absl::Seconds(10);
  o.attempts = 8;
  all_ = *meta::MetadataClient::Connect(addresses(), o);
  one_.clear();
  meta::MetadataClientOptions single = o;
  single.attempts = 1;
  for (int i = 0; i < size(); ++i) {
    one_.push_back(*meta::MetadataClient::Connect(address(i), single));
  }
}

absl::Status MetadCluster::StartMetad(int i, std::vector<std::string> extra) {
  Metad& m = metads_[i];
  if (m.process) (void)m.process->Stop(SIGKILL);
  m.extra = std::move(extra);
  ProcessOptions po;
  po.name = absl::StrCat("metad", i);
  po.log_path = absl::StrCat(m.dir, ".log");
  po.argv = {RunfilePath("tools/berth"), "metad",
             "--listen", address(i),
             "--data", m.dir,
             "--etcd", absl::StrJoin(etcd_->endpoints(), ","),
             "--replica-id", absl::StrFormat("metad-%d", i + 1)};
  for (const auto& f : flags_) po.argv.push_back(f);
  for (const auto& f : m.extra) po.argv.push_back(f);
  auto p = Process::Start(std::move(po));
  if (!p.ok()) return p.status();
  m.process = std::move(*p);
  bool ok = WaitFor(
      [&] {
        if (!m.process->Alive()) return true;
        auto st = one(i).Status(0);
        return st.ok() && st->state() == "serving";
      },
      absl::Seconds(60), absl::Milliseconds(100));
  if (!m.process->Alive()) {
    return absl::InternalError(absl::StrCat("metad", i, " exited:\n",
                                            m.process->LogTail(40)));
  }
  if (!ok) {
    return absl::DeadlineExceededError(absl::StrCat(
        "metad", i, " not serving:\n", m.process->LogTail(40)));
  }
  return absl::OkStatus();
}

absl::Status MetadCluster::KillMetad(int i) {
  if (!metads_[i].process) return absl::OkStatus();
  auto st = metads_[i].process->Stop(SIGKILL);
  return st.ok() ? absl::OkStatus() : st.status();
}

absl::StatusOr<int> MetadCluster::AddMetad(std::vector<std::string> extra) {
  Metad m;
  m.port = FreePort();
  m.dir = MakeTempDir(absl::StrCat("metad", size(), "-"));
  metads_.push_back(std::move(m));
  RebuildClients();
  const int i = size() - 1;
  if (absl::Status st = StartMetad(i, std::move(extra)); !st.ok()) return st;
  return i;
}

absl::StatusOr<std::string> MetadCluster::WaitConverged(
    absl::Duration timeout, std::vector<int> replicas) {
  if (replicas.empty()) {
    for (int i = 0; i < size(); ++i) {
      if (metads_[i].process && metads_[i].process->Alive()) {
        replicas.push_back(i);
      }
    }
  }
  std::string digest, why;
  bool ok = WaitFor(
      [&] {
        std::set<std::string> digests;
        std::set<uint64_t> applied;
        for (int i : replicas) {
          auto st = one(i).Status(0);
          if (!st.ok() || st->lag() != 0 || st->log_position() == 0) {
            why = absl::StrCat("metad", i, " not caught up: ",
                               st.ok() ? st->ShortDebugString()
                                       : st.status().ToString());
            return false;
          }
          auto d = one(i).Digest(0);
          if (!d.ok()) return false;
          digests.insert(d->digest());
          applied.insert(d->applied());
          digest = d->digest();
        }
        why = absl::StrCat(digests.size(), " digests, ", applied.size(),
                           " applied positions");
        return digests.size() == 1 && applied.size() == 1;
      },
      timeout, absl::Milliseconds(200));
  if (!ok) return absl::DeadlineExceededError("not converged: " + why);
  return digest;
}

WriteLoad::WriteLoad(meta::MetadataClient* client, int writers,
                     size_t json_bytes, const std::string& prefix)
    : client_(client), json_bytes_(json_bytes), prefix_(prefix) {
  for (int w = 0; w < writers; ++w) threads_.emplace_back(&WriteLoad::Run, this, w);
}

MetadCluster::~MetadCluster() {
  for (Metad& m : metads_) {
    m.process.reset();  // stops it
    std::error_code ec;
    std::filesystem::remove_all(m.dir, ec);
    std::filesystem::remove(m.dir + ".log", ec);
  }
}

WriteLoad::~WriteLoad() { Stop(); }

void WriteLoad::Stop() {
  stop_.store(true);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::vector<std::string> WriteLoad::acked() {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_;
}

void WriteLoad::Run(int w) {
  for (uint64_t n = 0; !stop_.load(); ++n) {
    std::string id = ImageId(absl::StrCat(prefix_, "-", w), n);
    auto r = client_->Execute(PutJsonCommand(id, json_bytes_));
    if (r.ok() && r->error().reason() == REASON_UNSPECIFIED) {
      std::lock_guard<std::mutex> lock(mu_);
      acked_.push_back(id);
    } else {
      failures_.fetch_add(1);
    }
  }
}

}  // namespace berth::testing
