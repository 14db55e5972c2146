// LayerWriter: the write pipeline of one layer (see blob_client.h).
//
// Ownership: the caller's thread fills one chunk buffer at a time. A full
// buffer becomes a ChunkJob owned by the pool tasks working on it (hash,
// then one put per placed shard); the last put to finish returns the
// buffer to the UploadState's free list. UploadState is shared by the
// writer and its tasks, so a writer can be dropped while tasks finish.
#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "blobstore/blob_client.h"
#include "blobstore/client_internal.h"
#include "common/sha256.h"
#include "spdlog/spdlog.h"

namespace berth::blob {

struct UploadState {
  explicit UploadState(size_t slots) : slots_total(slots) {}

  absl::Mutex mu;
  absl::CondVar cv;  // Signalled when a buffer is freed or a job ends.
  const size_t slots_total;
  size_t slots_used ABSL_GUARDED_BY(mu) = 0;  // Buffers handed out.
  std::vector<std::unique_ptr<std::string>> free ABSL_GUARDED_BY(mu);
  size_t in_flight ABSL_GUARDED_BY(mu) = 0;   // Jobs not yet complete.
  absl::Status status ABSL_GUARDED_BY(mu);    // First failure (or abort).
  std::map<uint64_t, ChunkRef> refs ABSL_GUARDED_BY(mu);
  std::vector<ChunkRef> under_replicated ABSL_GUARDED_BY(mu);
};

namespace {

struct ChunkJob {
  std::shared_ptr<UploadState> state;
  const BlobClient* client;
  std::string request_id;
  uint64_t index = 0;
  std::unique_ptr<std::string> buf;
  std::string digest;
  std::vector<size_t> targets;
  // One per target: cuts a straggling put short (see StartPuts).
  std::vector<std::shared_ptr<CallCanceller>> cancellers;
  absl::Time puts_started;
  // Guarded by state->mu:
  size_t pending = 0;
  size_t acks = 0;
  bool stragglers_timed = false;  // the straggler cancel is scheduled
  std::vector<bool> acked;
  std::vector<std::string> errors;
  absl::StatusCode error_code = absl::StatusCode::kOk;
  bool mixed_codes = false;
};

// Ends a job: records its ref or its failure, frees its buffer.
void Complete(const std::shared_ptr<ChunkJob>& job, absl::Status failure)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(job->state->mu) {
  UploadState& st = *job->state;
  if (failure.ok()) {
    ChunkRef ref;
    ref.set_digest(job->digest);
    ref.set_size(job->buf->size());
    for (size_t k = 0; k < job->targets.size(); ++k) {
      if (job->acked[k]) {
        ref.add_shards(job->client->shards()[job->targets[k]].info.id);
      }
    }
    const size_t acks = static_cast<size_t>(ref.shards_size());
    if (acks < job->client->write_quorum()) {
      failure = absl::Status(
          job->mixed_codes || job->error_code == absl::StatusCode::kOk
              ? absl::StatusCode::kUnavailable
              : job->error_code,
          absl::StrCat("chunk ", job->index, " (", job->digest, ") stored on ",
                       acks, " of ", job->targets.size(),
                       " shards, write quorum ",
                       job->client->write_quorum(), ": ",
                       absl::StrJoin(job->errors, "; ")));
    } else {
      if (acks < job->client->replicas()) {
        spdlog::warn("chunk {} stored on {} of {} shards: reported for "
                     "repair ({})",
                     job->digest, acks, job->client->replicas(),
                     absl::StrJoin(job->errors, "; "));
        st.under_replicated.push_back(ref);
        if (job->client->options().on_under_replicated) {
          job->client->options().on_under_replicated(ref);
        }
      }
      st.refs.emplace(job->index, std::move(ref));
    }
  }
  if (!failure.ok() && st.status.ok()) {
    spdlog::warn("layer upload {} failed: {}", job->request_id,
                 failure.ToString());
    st.status = failure;
  }
  if (st.status.ok()) {
    job->buf->clear();
    st.free.push_back(std::move(job->buf));
  } else {
    job->buf.reset();  // No more chunks will be filled.
  }
  --st.in_flight;
  st.cv.SignalAll();
}

void StartPuts(const std::shared_ptr<ChunkJob>& job,
               BlobClient::WorkerPools* pools);

}  // namespace

// Friend access to the pools for the job functions above.
class LayerWriterAccess {
 public:
  static BlobClient::WorkerPools* Pools(const BlobClient* c) {
    return c->pools_.get();
  }
};

namespace {

void HashJob(std::shared_ptr<ChunkJob> job) {
  job->digest = Sha256Hex(*job->buf);
  job->targets = job->client->Place(job->digest);
  {
    absl::MutexLock lock(&job->state->mu);
    if (!job->state->status.ok()) {
      return Complete(job, job->state->status);  // Failed or aborted.
    }
    if (job->targets.size() < job->client->write_quorum() ||
        job->targets.empty()) {
      return Complete(job, absl::UnavailableError(absl::StrCat(
                               "no write quorum possible: ",
                               job->targets.size(), " active shard(s), W=",
                               job->client->write_quorum())));
    }
    job->pending = job->targets.size();
    job->acked.assign(job->targets.size(), false);
  }
  StartPuts(job, LayerWriterAccess::Pools(job->client));
}

// Once a chunk has its write quorum, the copies still being written get
// a grace period (straggler_grace plus 4x the time the quorum took), then
// are cancelled: the chunk is stored and reported under-replicated rather
// than holding the upload's window until an RPC deadline. Called with the
// state lock held after an ack.
void MaybeTimeStragglers(const std::shared_ptr<ChunkJob>& job,
                         BlobClient::WorkerPools* pools)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(job->state->mu) {
  if (job->stragglers_timed || job->pending == 0 ||
      job->acks < job->client->write_quorum()) {
    return;
  }
  job->stragglers_timed = true;
  const absl::Duration grace = job->client->options().straggler_grace +
                               4 * (absl::Now() - job->puts_started);
  std::vector<std::shared_ptr<CallCanceller>> cancellers = job->cancellers;
  pools->timer.RunAt(absl::Now() + grace, [cancellers] {
    for (const auto& c : cancellers) c->Cancel();
  });
}

void StartPuts(const std::shared_ptr<ChunkJob>& job,
               BlobClient::WorkerPools* pools) {
  const BlobClient& client = *job->client;
  // Shards that recently timed out or were cut short are skipped while
  // the others still make the write quorum (the chunk is then reported
  // under-replicated), so a cut-off shard costs one grace period, not one
  // per chunk.
  std::vector<bool> skip(job->targets.size(), false);
  size_t healthy = 0;
  for (size_t k = 0; k < job->targets.size(); ++k) {
    if (!client.Suspected(job->targets[k])) ++healthy;
  }
  if (healthy >= client.write_quorum()) {
    for (size_t k = 0; k < job->targets.size(); ++k) {
      skip[k] = client.Suspected(job->targets[k]);
    }
  }
  job->puts_started = absl::Now();
  for (size_t k = 0; k < job->targets.size(); ++k) {
    job->cancellers.push_back(std::make_shared<CallCanceller>());
  }
  {
    absl::MutexLock lock(&job->state->mu);
    for (size_t k = 0; k < job->targets.size(); ++k) {
      if (!skip[k]) continue;
      job->errors.push_back(absl::StrCat(
          "shard ", client.shards()[job->targets[k]].info.id,
          " skipped: it recently failed or straggled"));
      --job->pending;
    }
    if (job->pending == 0) return Complete(job, absl::OkStatus());
  }
  for (size_t k = 0; k < job->targets.size(); ++k) {
    if (skip[k]) continue;
    pools->io.Submit([job, k, pools] {
      const size_t index = job->targets[k];
      const Shard& shard = job->client->shards()[index];
      absl::StatusOr<bool> r =
          shard.conn->PutChunk(job->request_id, job->digest, *job->buf,
                               job->client->Deadline(), job->cancellers[k].get());
      if (!r.ok() && (job->cancellers[k]->cancelled() ||
                      absl::IsUnavailable(r.status()) ||
                      absl::IsDeadlineExceeded(r.status()))) {
        job->client->MarkSuspected(index);
      }
      absl::MutexLock lock(&job->state->mu);
      if (r.ok()) {
        job->acked[k] = true;
        ++job->acks;
      } else {
        job->errors.push_back(job->cancellers[k]->cancelled()
                                  ? absl::StrCat("shard ", shard.info.id,
                                                 " cut short after the write "
                                                 "quorum acked")
                                  : r.status().ToString());
        if (job->error_code == absl::StatusCode::kOk) {
          job->error_code = r.status().code();
        } else if (job->error_code != r.status().code()) {
          job->mixed_codes = true;
        }
      }
      if (--job->pending == 0) return Complete(job, absl::OkStatus());
      if (r.ok()) MaybeTimeStragglers(job, pools);
    });
  }
}

}  // namespace

LayerWriter::LayerWriter(const BlobClient* client, std::string request_id)
    : client_(client) {
  const uint64_t chunk = client->options().chunk_size;
  state_ = std::make_shared<UploadState>(static_cast<size_t>(std::max<uint64_t>(
      1, client->options().upload_window_bytes / chunk)));
  request_id_ = std::move(request_id);
}

LayerWriter::~LayerWriter() {
  if (!done_) Abort();
}

absl::Status LayerWriter::Write(absl::string_view data) {
  if (!status_.ok()) return status_;
  const size_t chunk_size = client_->options().chunk_size;
  while (!data.empty()) {
    if (filling_ == nullptr) {
      absl::MutexLock lock(&state_->mu);
      while (state_->status.ok() && state_->free.empty() &&
             state_->slots_used == state_->slots_total) {
        state_->cv.Wait(&state_->mu);
      }
      if (!state_->status.ok()) return status_ = state_->status;
      if (!state_->free.empty()) {
        filling_ = std::move(state_->free.back());
        state_->free.pop_back();
      } else {
        filling_ = std::make_unique<std::string>();
        ++state_->slots_used;
      }
    }
    std::string& buf = *filling_;
    // Past the first chunk the layer is big: take a whole chunk at once
    // rather than growing (a doubling briefly holds 1.5 chunks).
    if (next_index_ > 0 && buf.capacity() < chunk_size) buf.reserve(chunk_size);
    size_t take = std::min(chunk_size - buf.size(), data.size());
    // Grow geometrically but never past one chunk: small layers stay small.
    size_t need = buf.size() + take;
    if (need > buf.capacity()) {
      buf.reserve(std::min(chunk_size, std::max(need, 2 * buf.capacity())));
    }
    buf.append(data.data(), take);
    data.remove_prefix(take);
    total_size_ += take;
    if (buf.size() == chunk_size) {
      if (absl::Status s = SendFilled(); !s.ok()) return status_ = s;
    }
  }
  return absl::OkStatus();
}

absl::Status LayerWriter::SendFilled() {
  auto job = std::make_shared<ChunkJob>();
  job->state = state_;
  job->client = client_;
  job->request_id = request_id_;
  job->index = next_index_++;
  job->buf = std::move(filling_);
  {
    absl::MutexLock lock(&state_->mu);
    if (!state_->status.ok()) {
      state_->free.push_back(std::move(job->buf));
      return state_->status;
    }
    ++state_->in_flight;
  }
  LayerWriterAccess::Pools(client_)->hash.Submit(
      [job]() mutable { HashJob(std::move(job)); });
  return absl::OkStatus();
}

absl::StatusOr<LayerManifest> LayerWriter::Finish() {
  if (!status_.ok()) return status_;
  if (filling_ != nullptr && !filling_->empty()) {
    if (absl::Status s = SendFilled(); !s.ok()) return status_ = s;
  }
  filling_.reset();
  done_ = true;
  absl::MutexLock lock(&state_->mu);
  while (state_->in_flight > 0) state_->cv.Wait(&state_->mu);
  state_->free.clear();
  if (!state_->status.ok()) return status_ = state_->status;
  status_ = absl::FailedPreconditionError("layer writer already finished");
  LayerManifest manifest;
  for (auto& [index, ref] : state_->refs) {
    *manifest.add_chunks() = std::move(ref);
  }
  state_->refs.clear();
  manifest.set_total_size(total_size_);
  return manifest;
}

void LayerWriter::Abort() {
  done_ = true;
  status_ = absl::FailedPreconditionError("layer writer aborted");
  filling_.reset();
  absl::MutexLock lock(&state_->mu);
  if (state_->status.ok()) state_->status = status_;
  state_->free.clear();
  state_->refs.clear();
  state_->cv.SignalAll();
}

std::vector<ChunkRef> LayerWriter::under_replicated() const {
  absl::MutexLock lock(&state_->mu);
  return state_->under_replicated;
}

}  // namespace berth::blob
