#include "blobstore/blob_client.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "blobstore/client_internal.h"
#include "blobstore/errors.h"
#include "blobstore/limits.h"
#include "spdlog/spdlog.h"

namespace berth::blob {

const char* BadCopyKindName(BadCopy::Kind kind) {
  switch (kind) {
    case BadCopy::kCorrupt:
      return "corrupt";
    case BadCopy::kMissing:
      return "missing";
    case BadCopy::kUnavailable:
      return "unavailable";
  }
  return "?";
}

namespace {

// Once per process: lets glibc malloc adopt, for chunk-sized buffers, the
// mmap/trim thresholds it adopts by itself after the first free of a large
// mmap()ed block (mallopt(3), "dynamic mmap threshold"): freeing one
// `size`-byte mmap()ed block raises M_MMAP_THRESHOLD to `size` and
// M_TRIM_THRESHOLD to 2 * size.
//
// Why: a download frees gRPC's 64 KiB receive slices by the MiB. At the
// start-up thresholds (128 KiB) every such batch lands on an arena's top
// chunk and is trimmed (madvise(MADV_DONTNEED)), so the next recvmsg()
// faults in and zeroes fresh pages: 12-15% of the download's CPU in perf.
// The pooled read buffers (buffer_pool.h) no longer free a chunk buffer
// per read, which used to trigger the adjustment as a side effect; this
// makes it explicit. A process that set the thresholds itself (mallopt or
// GLIBC_TUNABLES) keeps them: glibc then ignores frees for this purpose.
// With another allocator it is one harmless allocation.
void AdoptChunkSizedMallocThresholds(uint64_t size) {
  static std::once_flag once;
  std::call_once(once, [size] {
    // 32 MiB is glibc's ceiling for the dynamic threshold.
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size, 32 << 20));
    void* p = std::malloc(n);
    // Keep the compiler from eliding the malloc/free pair.
    asm volatile("" : : "r"(p) : "memory");
    std::free(p);
  });
}

}  // namespace

BlobClient::BlobClient(std::vector<Shard> shards, BlobClientOptions opts)
    : shards_(std::move(shards)), opts_(std::move(opts)) {
  if (opts_.chunk_size == 0) opts_.chunk_size = BlobClientOptions().chunk_size;
  opts_.chunk_size = std::min(opts_.chunk_size, kMaxChunkSize);
  size_t active = 0;
  for (const Shard& s : shards_) {
    infos_.push_back(s.info);
    if (s.info.state == ShardState::kActive) ++active;
  }
  replicas_ = std::min<size_t>(std::max(opts_.replicas, 1), active);
  write_quorum_ =
      std::min<size_t>(std::max(opts_.write_quorum, 1), replicas_);
  int hash_threads = opts_.hash_threads > 0
                         ? opts_.hash_threads
                         : static_cast<int>(std::thread::hardware_concurrency());
  pools_ = std::make_unique<WorkerPools>(std::max(hash_threads, 1),
                                         std::max(opts_.io_threads, 1));
  AdoptChunkSizedMallocThresholds(opts_.chunk_size);
  read_buffers_ = BufferPool::Create(
      opts_.chunk_size,
      static_cast<size_t>(
          std::max<uint64_t>(1, opts_.read_ahead_bytes / opts_.chunk_size)) +
          1);
}

BlobClient::~BlobClient() { pools_.reset(); }

bool BlobClient::Suspected(size_t index) const {
  absl::MutexLock lock(&suspect_mu_);
  return index < suspect_until_.size() && suspect_until_[index] > absl::Now();
}

void BlobClient::MarkSuspected(size_t index) const {
  absl::MutexLock lock(&suspect_mu_);
  if (suspect_until_.size() < shards_.size()) {
    suspect_until_.resize(shards_.size(), absl::InfinitePast());
  }
  if (index < suspect_until_.size()) {
    suspect_until_[index] = absl::Now() + opts_.suspect_period;
  }
}

std::unique_ptr<LayerWriter> BlobClient::NewLayerWriter(
    const std::string& request_id) {
  return std::unique_ptr<LayerWriter>(new LayerWriter(this, request_id));
}

std::vector<size_t> BlobClient::Place(absl::string_view digest) const {
  return PlaceChunk(infos_, digest, replicas_);
}

int BlobClient::IndexOf(absl::string_view id) const {
  for (size_t i = 0; i < infos_.size(); ++i) {
    if (infos_[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

std::vector<size_t> BlobClient::ReadOrder(const ChunkRef& ref) const {
  std::vector<size_t> named;
  for (const std::string& id : ref.shards()) {
    int i = IndexOf(id);
    if (i >= 0 && infos_[i].state != ShardState::kDown &&
        std::find(named.begin(), named.end(), i) == named.end()) {
      named.push_back(static_cast<size_t>(i));
    }
  }
  std::stable_partition(named.begin(), named.end(), [&](size_t i) {
    return !opts_.zone.empty() && infos_[i].zone == opts_.zone;
  });
  std::vector<size_t> order = named;
  for (size_t i : ReadPreference(infos_, ref.digest(), opts_.zone)) {
    if (std::find(named.begin(), named.end(), i) == named.end()) {
      order.push_back(i);
    }
  }
  // A shard that just failed, timed out or straggled (a silent partition
  // holds its calls until their deadline) is tried last, not first.
  std::stable_partition(order.begin(), order.end(),
                        [&](size_t i) { return !Suspected(i); });
  return order;
}

absl::StatusOr<bool> BlobClient::PutChunk(size_t index,
                                          const std::string& request_id,
                                          absl::string_view digest,
                                          absl::string_view data) const {
  if (index >= shards_.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no blobstore shard #", index, " (", shards_.size(), " configured)"));
  }
  return shards_[index].conn->PutChunk(request_id, digest, data, Deadline());
}

absl::Status BlobClient::FetchInto(const ChunkRef& ref, char* dst,
                                   std::vector<BadCopy>* bad) const {
  const std::vector<size_t> order = ReadOrder(ref);
  std::vector<std::string> attempts;
  bool corrupt = false;
  bool all_not_found = true;
  absl::StatusCode last_code = absl::StatusCode::kUnavailable;
  for (size_t n = 0; n < order.size(); ++n) {
    const size_t i = order[n];
    const std::string& id = infos_[i].id;
    const bool named = std::find(ref.shards().begin(), ref.shards().end(),
                                 id) != ref.shards().end();
    const bool last = n + 1 == order.size();
    const absl::Time deadline =
        last ? Deadline()
             : std::min(Deadline(), absl::Now() + opts_.read_attempt_timeout);
    Sha256 hasher;
    absl::Status s = shards_[i].conn->GetChunk(ref.digest(), ref.size(), dst,
                                               &hasher, deadline);
    BadCopy copy{id, ref.digest(), BadCopy::kUnavailable, ""};
    if (s.ok()) {
      std::string actual = hasher.HexDigest();
      if (actual == ref.digest()) {
        if (!attempts.empty()) {
          spdlog::info("chunk {}: read from shard {} after {} failed "
                       "attempt(s)", ref.digest(), id, attempts.size());
        }
        return absl::OkStatus();
      }
      copy.kind = BadCopy::kCorrupt;
      copy.detail = absl::StrCat("bytes hash to ", actual);
    } else if (ReasonOf(s) == berth::CHUNK_SIZE_MISMATCH) {
      copy.kind = BadCopy::kCorrupt;
      copy.detail = std::string(s.message());
    } else if (ReasonOf(s) == berth::CHUNK_NOT_FOUND &&
               s.code() == absl::StatusCode::kNotFound) {
      copy.kind = BadCopy::kMissing;
      copy.detail = std::string(s.message());
    } else {
      copy.detail = s.ToString();
      last_code = s.code();
      if (s.code() == absl::StatusCode::kDeadlineExceeded ||
          s.code() == absl::StatusCode::kUnavailable) {
        MarkSuspected(i);  // later reads try the other copies first
      }
    }
    if (copy.kind != BadCopy::kMissing) all_not_found = false;
    if (copy.kind == BadCopy::kCorrupt) corrupt = true;
    attempts.push_back(absl::StrCat(id, ": ", BadCopyKindName(copy.kind), " (",
                                    copy.detail, ")"));
    // A copy the manifest promised, or any corrupt copy, is reported.
    if (named || copy.kind == BadCopy::kCorrupt) {
      spdlog::warn("chunk {} on shard {}: {} copy: {}", ref.digest(), id,
                   BadCopyKindName(copy.kind), copy.detail);
      if (opts_.on_bad_copy) opts_.on_bad_copy(copy);
      if (bad != nullptr) bad->push_back(std::move(copy));
    }
  }
  const std::string message =
      absl::StrCat("chunk ", ref.digest(), ": no good copy [",
                   absl::StrJoin(attempts, "; "), "]");
  if (corrupt) return absl::DataLossError(message);
  if (all_not_found) return MakeError(berth::CHUNK_NOT_FOUND, message);
  return absl::Status(last_code, message);
}

absl::Status BlobClient::FetchChunk(const ChunkRef& ref, std::string* out,
                                    std::vector<BadCopy>* bad) const {
  out->resize(ref.size());
  absl::Status s = FetchInto(ref, out->data(), bad);
  if (!s.ok()) out->clear();
  return s;
}

namespace {

// One chunk fetched ahead. The fetch task writes `buf`, `status` and `bad`,
// then sets `done` under the shared mutex; the reader thread reads them
// only after seeing `done`.
struct Fetch {
  ChunkRef ref;
  PooledBuffer buf;
  absl::Status status;
  std::vector<BadCopy> bad;
  bool done = false;
};

struct ReadShared {
  absl::Mutex mu;
  absl::CondVar cv;
};

}  // namespace

absl::Status BlobClient::ReadLayer(
    const LayerManifest& m, uint64_t offset, uint64_t length,
    const std::function<absl::Status(absl::string_view)>& sink,
    ReadReport* report) const {
  uint64_t total = 0;
  for (const ChunkRef& ref : m.chunks()) total += ref.size();
  if (total != m.total_size()) {
    return absl::DataLossError(absl::StrCat("layer manifest: chunks sum to ",
                                            total, " bytes, total_size is ",
                                            m.total_size()));
  }
  if (offset > total || length > total - offset) {
    return absl::OutOfRangeError(absl::StrCat(
        "range ", offset, "+", length, " outside layer of ", total, " bytes"));
  }
  const uint64_t end = length == 0 ? total : offset + length;
  // Chunks overlapping [offset, end) and where each starts.
  std::vector<std::pair<int, uint64_t>> wanted;
  uint64_t start = 0;
  for (int i = 0; i < m.chunks_size() && start < end; ++i) {
    const uint64_t chunk_end = start + m.chunks(i).size();
    if (chunk_end > offset) wanted.emplace_back(i, start);
    start = chunk_end;
  }
  uint64_t largest = 1;
  for (const auto& w : wanted) {
    largest = std::max<uint64_t>(largest, m.chunks(w.first).size());
  }
  const size_t window = static_cast<size_t>(
      std::max<uint64_t>(1, opts_.read_ahead_bytes / opts_.chunk_size));

  auto shared = std::make_shared<ReadShared>();
  std::deque<std::shared_ptr<Fetch>> ahead;  // In chunk order.
  size_t next = 0;
  auto schedule = [&] {
    while (ahead.size() < window && next < wanted.size()) {
      auto f = std::make_shared<Fetch>();
      f->ref = m.chunks(wanted[next].first);
      ++next;
      f->buf = read_buffers_->Get(largest);
      ahead.push_back(f);
      pools_->io.Submit([this, f, shared] {
        std::vector<BadCopy> bad;
        absl::Status s = FetchInto(f->ref, f->buf.get(), &bad);
        absl::MutexLock lock(&shared->mu);
        f->status = std::move(s);
        f->bad = std::move(bad);
        f->done = true;
        shared->cv.SignalAll();
      });
    }
  };
  // Outstanding fetches finish in the background if we return early; they
  // own their buffers.
  schedule();
  for (size_t k = 0; k < wanted.size(); ++k) {
    std::shared_ptr<Fetch> f = ahead.front();
    ahead.pop_front();
    {
      absl::MutexLock lock(&shared->mu);
      while (!f->done) shared->cv.Wait(&shared->mu);
    }
    if (report != nullptr) {
      for (BadCopy& b : f->bad) report->bad_copies.push_back(std::move(b));
    }
    if (!f->status.ok()) return f->status;
    schedule();  // Keep the window full while this chunk is handed on.
    const uint64_t chunk_start = wanted[k].second;
    const uint64_t chunk_end = chunk_start + f->ref.size();
    const uint64_t lo = std::max(offset, chunk_start) - chunk_start;
    const uint64_t hi = std::min(end, chunk_end) - chunk_start;
    absl::Status s = sink(absl::string_view(f->buf.get() + lo, hi - lo));
    if (!s.ok()) return s;
    f->buf.Release();
  }
  return absl::OkStatus();
}

}  // namespace berth::blob
