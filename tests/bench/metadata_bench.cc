// Metadata tier benchmark: 3 etcd members + 3 real `berth metad` replicas
// on loopback. Measures, in one run and with the same gRPC client code:
//  - raw etcd Put/s (one key, the same value size as a write's Command) at
//    1, 16 and 128 concurrent writers spread over the 3 members;
//  - metadata writes/s (Execute of a PutImageJson, spread over the 3
//    replicas) with p50/p99 latency at 1, 16 and 128 writers;
//  - stale-ok and linearizable GetImage reads/s on one replica.
// Usage: metadata_bench [--seconds S] [--readers N] [--writers N]
//        [--reads 0|1] [--client async|sync] [--metad-flag F]...
// --client async (default): N calls kept in flight by gRPC callback stubs
// (a completion starts the slot's next call), so the client, which shares
// the cores with the servers, spends no thread per call; --client sync:
// N threads each making blocking calls (raw etcd puts by the same style,
// metadata calls through meta::MetadataClient as a frontend does).
// (--metad-flag passes one more flag to every metad, e.g.
//  --metad-flag --max-batch-commands --metad-flag 1 turns group commit off)
// (run from the workspace root: .bazel/bin/tests/bench/metadata_bench)
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "proto/etcd/rpc.grpc.pb.h"
#include "proto/metadata.grpc.pb.h"
#include "tests/metad_cluster.h"

namespace berth::testing {
namespace {

struct Result {
  double per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t errors = 0;
  uint64_t done = 0;  // successful calls
};

// Runs `op` on `threads` threads for `seconds`; op(thread, n) -> ok.
// Rate and latency percentiles over every call's latency (ms; failed
// calls count in the latencies, not in the rate).
Result Summarize(const std::vector<std::vector<double>>& lat, uint64_t errors,
                 double elapsed_seconds) {
  std::vector<double> all;
  for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.errors = errors;
  r.done = all.size() - r.errors;
  r.per_second = r.done / elapsed_seconds;
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return r;
}

template <class Op>
Result Measure(int threads, double seconds, Op op) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::vector<std::vector<double>> lat(threads);
  std::vector<std::thread> pool;
  const absl::Time start = absl::Now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        absl::Time s = absl::Now();
        bool ok = op(t, n);
        lat[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - s));
        if (!ok) errors.fetch_add(1);
      }
    });
  }
  absl::SleepFor(absl::Seconds(seconds));  // the measured interval
  stop.store(true);
  for (auto& th : pool) th.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  return Summarize(lat, errors.load(), elapsed);
}

// Closed loop of `slots` calls in flight for `seconds`: start(slot, n,
// done) starts one call and arranges done(ok) on its completion (a gRPC
// callback thread), which starts the slot's next call until time is up.
// Each slot's calls are sequential, so its latency vector has one writer.
template <class Start>
Result MeasureAsync(int slots, double seconds, Start start) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::mutex mu;
  std::condition_variable cv;
  int active = slots;  // guarded by mu
  std::vector<std::vector<double>> lat(slots);
  std::function<void(int, uint64_t)> issue = [&](int slot, uint64_t n) {
    const absl::Time s = absl::Now();
    start(slot, n, [&, slot, n, s](bool ok) {
      lat[slot].push_back(absl::ToDoubleMilliseconds(absl::Now() - s));
      if (!ok) errors.fetch_add(1);
      if (!stop.load(std::memory_order_relaxed)) {
        issue(slot, n + 1);
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      if (--active == 0) cv.notify_all();
    });
  };
  const absl::Time begin = absl::Now();
  for (int t = 0; t < slots; ++t) issue(t, 0);
  absl::SleepFor(absl::Seconds(seconds));  // the measured interval
  stop.store(true);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return active == 0; });
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - begin);
  return Summarize(lat, errors.load(), elapsed);
}

// One callback-API unary call: owns its context, request and response
// until the completion, which reports ok and frees it.
template <class Request, class Response>
struct AsyncCall {
  grpc::ClientContext ctx;
  Request req;
  Response resp;
};

int Main(int argc, char** argv) {
  double seconds = 5;
  // Reads in flight per replica: 32 left 12% of the cores idle (each read
  // is a round trip), 64 keeps both busy (128 adds only latency).
  int readers = 64;
  std::vector<std::string> flags = {"--log-level", "warn"};
  std::vector<int> writer_counts = {1, 16, 128};
  bool reads = true;
  bool async = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    if (!strcmp(argv[i], "--readers")) readers = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--metad-flag")) flags.push_back(argv[i + 1]);
    if (!strcmp(argv[i], "--writers")) writer_counts = {atoi(argv[i + 1])};
    if (!strcmp(argv[i], "--reads")) reads = atoi(argv[i + 1]) != 0;
    if (!strcmp(argv[i], "--client")) async = strcmp(argv[i + 1], "sync");
  }
  // The load generator shares the two cores with the servers: like
  // `berth`, it runs without Abseil's mutex deadlock detection (Debian's
  // build has it on; it costs ~1% of the machine here).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  setenv("BERTH_BENCH", "1", 1);
  auto started = MetadCluster::Start(3, 3, flags);
  if (!started.ok()) {
    std::fprintf(stderr, "cluster: %s\n", started.status().ToString().c_str());
    return 1;
  }
  MetadCluster& cluster = **started;
  const std::string sample =
      PutJsonCommand(ImageId("x", 0), 200).SerializeAsString();
  std::printf("3 etcd members + 3 metad replicas, %.0f s per point, "
              "command %zu bytes, %s client\n\n", seconds, sample.size(),
              async ? "async (callback)" : "sync (thread per call)");

  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> etcd;
  for (const std::string& ep : cluster.etcd().endpoints()) {
    etcd.push_back(etcdserverpb::KV::NewStub(
        grpc::CreateChannel(ep, grpc::InsecureChannelCredentials())));
  }
  // etcd's current revision: every log append takes one, so revisions
  // taken during a write run tell the commands per log entry (heartbeats
  // take about one per replica per second too).
  const auto revision = [&]() -> int64_t {
    etcdserverpb::RangeRequest req;
    req.set_key("/bench/revision");
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    if (!etcd[0]->Range(&ctx, req, &resp).ok()) return 0;
    return resp.header().revision();
  };
  const auto report = [&](int writers, const Result& raw, const Result& w,
                          int64_t revisions) {
    std::printf("%-9d %14.0f %14.0f %9.2f %9.2f %6.0f%% %11.1f %llu\n",
                writers, raw.per_second, w.per_second, w.p50_ms, w.p99_ms,
                100 * w.per_second / raw.per_second,
                revisions > 0 ? static_cast<double>(w.done) / revisions : 0.0,
                static_cast<unsigned long long>(w.errors + raw.errors));
    std::fflush(stdout);
  };
  std::printf("%-9s %14s %14s %9s %9s %7s %11s %s\n", "writers",
              "etcd puts/s", "writes/s", "p50 ms", "p99 ms", "ratio",
              "cmds/entry", "errors");
  std::vector<std::unique_ptr<meta::Metadata::Stub>> metad;
  for (int i = 0; i < cluster.size(); ++i) {
    metad.push_back(meta::Metadata::NewStub(grpc::CreateChannel(
        cluster.address(i), grpc::InsecureChannelCredentials())));
  }
  const auto deadline = [] {
    return absl::ToChronoTime(absl::Now() + absl::Seconds(10));
  };
  std::atomic<uint64_t> seq{0};
  std::mutex ids_mu;
  std::vector<std::string> ids;  // acknowledged image ids; guarded by ids_mu
  const auto record = [&](const std::string& id) {
    std::lock_guard<std::mutex> lock(ids_mu);
    if (ids.size() < 100000) ids.push_back(id);
  };
  for (int writers : writer_counts) {
    if (async) {
      using Put = AsyncCall<etcdserverpb::PutRequest, etcdserverpb::PutResponse>;
      Result raw = MeasureAsync(writers, seconds, [&](int t, uint64_t,
                                                      auto done) {
        auto* call = new Put;
        call->req.set_key("/bench/raw");
        call->req.set_value(sample);
        call->ctx.set_deadline(deadline());
        etcd[t % etcd.size()]->async()->Put(
            &call->ctx, &call->req, &call->resp,
            [call, done](grpc::Status st) {
              delete call;
              done(st.ok());
            });
      });
      using Exec = AsyncCall<meta::Command, meta::CommandResult>;
      const int64_t rev0 = revision();
      Result w = MeasureAsync(writers, seconds, [&](int t, uint64_t,
                                                    auto done) {
        auto* call = new Exec;
        const uint64_t k = seq.fetch_add(1);
        call->req = PutJsonCommand(ImageId("bench", k), 200);
        call->req.set_request_id(absl::StrCat("bench-", k));
        call->ctx.set_deadline(deadline());
        metad[t % metad.size()]->async()->Execute(
            &call->ctx, &call->req, &call->resp,
            [&, call, done](grpc::Status st) {
              const bool ok = st.ok() && call->resp.error().reason() ==
                                             REASON_UNSPECIFIED;
              if (ok) record(call->req.put_image_json().id());
              delete call;
              done(ok);
            });
      });
      report(writers, raw, w, revision() - rev0);
      continue;
    }
    Result raw = Measure(writers, seconds, [&](int t, uint64_t) {
      etcdserverpb::PutRequest req;
      req.set_key("/bench/raw");
      req.set_value(sample);
      etcdserverpb::PutResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      return etcd[t % etcd.size()]->Put(&ctx, req, &resp).ok();
    });
    const int64_t rev0 = revision();
    Result w = Measure(writers, seconds, [&](int t, uint64_t) {
      std::string id = ImageId("bench", seq.fetch_add(1));
      auto r = cluster.one(t % 3).Execute(PutJsonCommand(id, 200));
      bool ok = r.ok() && r->error().reason() == REASON_UNSPECIFIED;
      if (ok) record(id);
      return ok;
    });
    report(writers, raw, w, revision() - rev0);
  }

  if (!reads || ids.empty()) return 0;
  // A replica may trail the others at the end of a write run (writers on
  // the replicas ahead kept being acknowledged); let every replica catch
  // up first, so its catching-up does not share the cores with the reads.
  const absl::Time catch_up = absl::Now();
  if (auto converged = cluster.WaitConverged(absl::Minutes(5));
      !converged.ok()) {
    std::fprintf(stderr, "replicas did not converge: %s\n",
                 converged.status().ToString().c_str());
    return 1;
  }
  std::printf("\nreplicas converged %.1f s after the last write run\n",
              absl::ToDoubleSeconds(absl::Now() - catch_up));
  std::printf("\n%-14s %9s %14s %9s %9s %s\n", "reads", "readers", "reads/s",
              "p50 ms", "p99 ms", "errors");
  for (bool stale : {true, false}) {
    for (int replica = 0; replica < 3; ++replica) {
      using Get = AsyncCall<meta::GetImageRequest, meta::GetImageResponse>;
      Result r = async ? MeasureAsync(readers, seconds, [&](int t, uint64_t n,
                                                            auto done) {
        auto* call = new Get;
        call->req.set_id(ids[(n * 7919 + t) % ids.size()]);
        call->req.mutable_read()->set_stale_ok(stale);
        call->ctx.set_deadline(deadline());
        metad[replica]->async()->GetImage(
            &call->ctx, &call->req, &call->resp,
            [call, done](grpc::Status st) {
              const bool ok = st.ok() && call->resp.error().reason() ==
                                             REASON_UNSPECIFIED;
              delete call;
              done(ok);
            });
      }) : Measure(readers, seconds, [&](int t, uint64_t n) {
        meta::GetImageRequest req;
        req.set_id(ids[(n * 7919 + t) % ids.size()]);
        req.mutable_read()->set_stale_ok(stale);
        auto got = cluster.one(replica).GetImage(req);
        return got.ok() && got->error().reason() == REASON_UNSPECIFIED;
      });
      std::printf("%-14s %9d %14.0f %9.2f %9.2f %llu\n",
                  absl::StrCat(stale ? "stale" : "linearizable", " r",
                               replica + 1).c_str(),
                  readers, r.per_second, r.p50_ms, r.p99_ms,
                  static_cast<unsigned long long>(r.errors));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace berth::testing

int main(int argc, char** argv) { return berth::testing::Main(argc, argv); }
