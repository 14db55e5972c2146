#include "metadata/etcd_log.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "metadata/etcd_internal.h"
#include "proto/etcd/rpc.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace {

using namespace etcd_internal;  // NOLINT: this file's own helpers

// Set on the tail thread to the EtcdLog that owns it, so StopTailing and
// StartTailing can recognize calls made from inside a callback.
thread_local const void* t_tail_owner = nullptr;
// Backoff between watch attempts of the tail thread.
constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(2);
// Watch responses carry whole entries; etcd's default request limit is
// 1.5 MiB, but a non-fragmented batch may be larger.
constexpr int kMaxReceiveBytes = 64 << 20;

}  // namespace

EtcdLog::EtcdLog(const EtcdLogOptions& options) : options_(options) {}

EtcdLog::~EtcdLog() { StopTailing(); }

absl::StatusOr<std::unique_ptr<EtcdLog>> EtcdLog::Create(
    const EtcdLogOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("EtcdLog: no etcd endpoints given");
  }
  if (options.log_key.empty()) {
    return absl::InvalidArgumentError("EtcdLog: empty log key");
  }
  if (options.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("EtcdLog: rpc_timeout must be > 0");
  }
  std::unique_ptr<EtcdLog> log(new EtcdLog(options));
  for (const std::string& raw : options.endpoints) {
    auto ep = std::make_unique<Endpoint>();
    ep->target = StripScheme(raw);
    if (ep->target.empty() || ep->target.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("EtcdLog: endpoint '", raw, "' is not host:port"));
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
    // Notice a dead member quickly (loopback refusals are instant) and
    // find a restarted one without gRPC's default 1 s..120 s backoff.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    // Detect a silently dead connection under an open watch. etcd's
    // enforcement policy allows pings every 5 s, and only with an open
    // stream.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
    ep->channel = grpc::CreateCustomChannel(
        ep->target, grpc::InsecureChannelCredentials(), args);
    ep->kv = etcdserverpb::KV::NewStub(ep->channel);
    ep->watch = etcdserverpb::Watch::NewStub(ep->channel);
    ep->lease = etcdserverpb::Lease::NewStub(ep->channel);
    ep->maintenance = etcdserverpb::Maintenance::NewStub(ep->channel);
    log->endpoints_.push_back(std::move(ep));
  }
  return log;
}

absl::StatusOr<uint64_t> EtcdLog::Append(const std::string& data) {
  etcdserverpb::PutRequest req;
  req.set_key(options_.log_key);
  req.set_value(data);
  etcdserverpb::PutResponse resp;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/false, "Put", [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.kv->Put(ctx, req, &resp);
      });
  if (!s.ok()) return s;
  if (resp.header().revision() <= 0) {
    return absl::InternalError(absl::StrCat(
        "etcd Put answered without a revision: ", resp.ShortDebugString()));
  }
  return static_cast<uint64_t>(resp.header().revision());
}

absl::StatusOr<uint64_t> EtcdLog::LastPosition() {
  etcdserverpb::RangeRequest req;
  req.set_key(options_.log_key);
  req.set_keys_only(true);      // mod_revision without the value
  req.set_serializable(false);  // linearizable
  etcdserverpb::RangeResponse resp;
  absl::Status s = CallWithFailover(
      endpoints_, &preferred_, absl::Now() + options_.rpc_timeout,
      /*idempotent=*/true, "Range",
      [&](Endpoint& ep, grpc::ClientContext* ctx) {
        return ep.kv->Range(ctx, req, &resp);
      });
  if (!s.ok()) return s;
  if (resp.kvs_size() == 0) return 0;
  // The key's mod_revision, never resp.header().revision(): other keys and
  // leases move the store's revision too.
  return static_cast<uint64_t>(resp.kvs(0).mod_revision());
}

absl::Status EtcdLog::StartTailing(
    uint64_t after, std::function<absl::Status(const LogEntry&)> on_entry,
    std::function<void(const absl::Status&)> on_error) {
  if (!on_entry) {
    return absl::InvalidArgumentError("StartTailing: callbacks required");
  }
  return StartTailingRuns(
      after,
      [this, on_entry = std::move(on_entry)](std::vector<LogEntry>& run) {
        for (const LogEntry& e : run) {
          // A StopTailing() from inside a callback ends delivery at once,
          // also within one watch response (log.h contract).
          if (Stopping()) return absl::OkStatus();
          if (absl::Status s = on_entry(e); !s.ok()) return s;
        }
        return absl::OkStatus();
      },
      std::move(on_error));
}

absl::Status EtcdLog::StartTailingRuns(
    uint64_t after, RunCallback on_entries,
    std::function<void(const absl::Status&)> on_error) {
  if (t_tail_owner == this) {
    return absl::FailedPreconditionError(
        "EtcdLog::StartTailing called from a tail callback");
  }
  if (!on_entries || !on_error) {
    return absl::InvalidArgumentError("StartTailing: callbacks required");
  }
  absl::MutexLock control(&control_mu_);
  if (tail_thread_.joinable()) {
    bool stopping;
    {
      absl::MutexLock l(&mu_);
      stopping = stop_;
    }
    // A tail that ended on its own (after on_error) or was stopped from a
    // callback is still joinable; only a live one is an error.
    if (!stopping && !tail_done_.load()) {
      return absl::FailedPreconditionError("EtcdLog: already tailing");
    }
    tail_thread_.join();
  }
  {
    absl::MutexLock l(&mu_);
    stop_ = false;
  }
  tail_done_.store(false);
  tail_thread_ = std::thread(&EtcdLog::TailLoop, this, after,
                             std::move(on_entries), std::move(on_error));
  return absl::OkStatus();
}

void EtcdLog::StopTailing() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    if (watch_ctx_ != nullptr) watch_ctx_->TryCancel();
  }
  // From inside a callback: the stop is requested; the thread ends after
  // the callback returns and is joined later.
  if (t_tail_owner == this) return;
  absl::MutexLock control(&control_mu_);
  if (tail_thread_.joinable()) tail_thread_.join();
}

bool EtcdLog::Stopping() {
  absl::MutexLock l(&mu_);
  return stop_;
}

int EtcdLog::PickConnected(size_t first) {
  const size_t n = endpoints_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (first + k) % n;
    if (endpoints_[i]->channel->GetState(/*try_to_connect=*/true) ==
        GRPC_CHANNEL_READY) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void EtcdLog::TailLoop(uint64_t after, RunCallback on_entries,
                       std::function<void(const absl::Status&)> on_error) {
  t_tail_owner = this;
  uint64_t next = after + 1;
  size_t first = preferred_.load() % endpoints_.size();
  absl::Duration backoff = kMinBackoff;
  int failures = 0;
  while (!Stopping()) {
    absl::Status status;
    int ep = PickConnected(first);
    if (ep < 0) {
      status = absl::UnavailableError("no etcd endpoint connected");
    } else {
      const uint64_t before = next;
      bool terminal = false;
      status = WatchOnce(static_cast<size_t>(ep), &next, on_entries, &terminal);
      if (Stopping()) break;
      if (terminal) {
        spdlog::error("etcd log: tail of {} ends at position {}: {}",
                      options_.log_key, next, status.ToString());
        on_error(status);
        tail_done_.store(true);
        t_tail_owner = nullptr;
        return;
      }
      if (next > before) {
        backoff = kMinBackoff;
        failures = 0;
      }
      first = static_cast<size_t>(ep) + 1;  // rotate to the next member
    }
    ++failures;
    // The first connection attempt regularly finds all channels idle.
    if (ep >= 0 || failures > 3) {
      spdlog::warn("etcd log: watch of {} from {}: {}; retrying in {}",
                   options_.log_key, next, status.ToString(),
                   absl::FormatDuration(backoff));
    }
    {
      absl::MutexLock l(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
      if (stop_) break;
    }
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  tail_done_.store(true);
  t_tail_owner = nullptr;
}

absl::Status EtcdLog::WatchOnce(size_t ep_index, uint64_t* next,
                               const RunCallback& on_entries, bool* terminal) {
  Endpoint& ep = *endpoints_[ep_index];
  grpc::ClientContext ctx;
  RequireLeader(&ctx);
  {
    absl::MutexLock l(&mu_);
    if (stop_) return absl::OkStatus();
    watch_ctx_ = &ctx;
  }
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest,
                                           etcdserverpb::WatchResponse>>
      stream = ep.watch->Watch(&ctx);

  etcdserverpb::WatchRequest req;
  etcdserverpb::WatchCreateRequest* create = req.mutable_create_request();
  create->set_key(options_.log_key);
  create->set_start_revision(static_cast<int64_t>(*next));
  create->set_progress_notify(true);
  create->set_fragment(true);
  spdlog::debug("etcd log: watching {} from {} on {}", options_.log_key, *next,
                ep.target);

  absl::Status result;  // set when we end the stream ourselves
  bool ended_by_us = false;
  if (stream->Write(req)) {
    etcdserverpb::WatchResponse resp;
    std::vector<mvccpb::Event> pending;  // events of a fragmented batch
    while (!ended_by_us && stream->Read(&resp)) {
      if (resp.canceled() || resp.compact_revision() > 0) {
        ended_by_us = true;
        if (resp.compact_revision() > 0) {
          *terminal = true;
          result = absl::OutOfRangeError(absl::StrFormat(
              "etcd log %s: position %d was compacted away (etcd compact "
              "revision %d)",
              options_.log_key, *next, resp.compact_revision()));
        } else {
          result = absl::UnavailableError(absl::StrCat(
              "watch canceled by ", ep.target, ": ", resp.cancel_reason()));
        }
        break;
      }
      for (mvccpb::Event& ev : *resp.mutable_events()) {
        pending.push_back(std::move(ev));
      }
      // Progress notifications (no events) are not used to advance: etcd
      // before 3.4.24 may send them ahead of events of unsynced watchers.
      if (resp.fragment()) continue;
      // One run per response: the replica applies it in one write.
      std::vector<LogEntry> run;
      uint64_t advance = *next;
      for (mvccpb::Event& ev : pending) {
        const int64_t rev = ev.kv().mod_revision();
        if (rev <= 0 || static_cast<uint64_t>(rev) < advance) continue;
        advance = static_cast<uint64_t>(rev) + 1;
        if (ev.type() != mvccpb::Event::PUT) {
          spdlog::warn("etcd log: ignoring a {} of {} at revision {}",
                       mvccpb::Event::EventType_Name(ev.type()),
                       options_.log_key, rev);
          continue;
        }
        LogEntry& entry = run.emplace_back();
        entry.position = static_cast<uint64_t>(rev);
        entry.data = std::move(*ev.mutable_kv()->mutable_value());
      }
      if (!run.empty()) {
        if (Stopping()) {
          ended_by_us = true;
          break;
        }
        absl::Status s = on_entries(run);
        if (!s.ok()) {
          *terminal = true;
          ended_by_us = true;
          result = s;
          break;
        }
      }
      *next = advance;
      pending.clear();
    }
  }
  if (ended_by_us) ctx.TryCancel();
  grpc::Status fin = stream->Finish();
  {
    absl::MutexLock l(&mu_);
    watch_ctx_ = nullptr;
  }
  if (!result.ok()) return result;
  if (Stopping()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "watch stream on ", ep.target, " ended: ", fin.error_message(),
      " (grpc code ", static_cast<int>(fin.error_code()), ")"));
}

}  // namespace berth::meta
