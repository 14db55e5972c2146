#include "blobstore/blob_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "blobstore/errors.h"
#include "blobstore/limits.h"

namespace berth::blob {
namespace {

void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// A domain error from shard `id`, keeping its reason.
absl::Status ShardError(const berth::Error& error, const std::string& id) {
  return MakeError(error.reason(),
                   absl::StrCat("shard ", id, ": ", error.message()));
}

}  // namespace

// ---- LayerWriter ----

LayerWriter::LayerWriter(const BlobClient* client, std::string request_id)
    : client_(client), request_id_(std::move(request_id)) {}

absl::Status LayerWriter::Write(absl::string_view data) {
  if (!status_.ok()) return status_;
  const size_t chunk_size = client_->options().chunk_size;
  while (!data.empty()) {
    size_t take = std::min(chunk_size - buffer_.size(), data.size());
    // Grow geometrically but never past one chunk: small layers stay small.
    size_t need = buffer_.size() + take;
    if (need > buffer_.capacity()) {
      buffer_.reserve(
          std::min(chunk_size, std::max(need, 2 * buffer_.capacity())));
    }
    buffer_.append(data.data(), take);
    hasher_.Update(data.data(), take);
    data.remove_prefix(take);
    if (buffer_.size() == chunk_size) {
      status_ = FlushChunk();
      if (!status_.ok()) return status_;
    }
  }
  return absl::OkStatus();
}

absl::Status LayerWriter::FlushChunk() {
  std::string digest = hasher_.HexDigest();
  absl::StatusOr<bool> stored =
      client_->PutChunk(0, request_id_, digest, buffer_);
  if (!stored.ok()) return stored.status();
  ChunkRef* ref = manifest_.add_chunks();
  ref->set_digest(digest);
  ref->set_size(buffer_.size());
  ref->add_shards(client_->shards()[0].id);
  manifest_.set_total_size(manifest_.total_size() + buffer_.size());
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<LayerManifest> LayerWriter::Finish() {
  if (!status_.ok()) return status_;
  if (!buffer_.empty()) {
    status_ = FlushChunk();
    if (!status_.ok()) return status_;
  }
  status_ = absl::FailedPreconditionError("layer writer already finished");
  std::string().swap(buffer_);
  return std::move(manifest_);
}

void LayerWriter::Abort() {
  status_ = absl::FailedPreconditionError("layer writer aborted");
  std::string().swap(buffer_);
  manifest_.Clear();
}

// ---- BlobClient ----

BlobClient::BlobClient(std::vector<Shard> shards, BlobClientOptions opts)
    : shards_(std::move(shards)), opts_(opts) {
  if (opts_.chunk_size == 0) opts_.chunk_size = BlobClientOptions().chunk_size;
  opts_.chunk_size = std::min(opts_.chunk_size, kMaxChunkSize);
  for (const Shard& shard : shards_) {
    stubs_.push_back({shard.id, Blobstore::NewStub(shard.channel)});
  }
}

std::unique_ptr<LayerWriter> BlobClient::NewLayerWriter(
    const std::string& request_id) {
  return std::unique_ptr<LayerWriter>(new LayerWriter(this, request_id));
}

absl::StatusOr<bool> BlobClient::PutChunk(size_t shard,
                                          const std::string& request_id,
                                          absl::string_view digest,
                                          absl::string_view data) const {
  if (shard >= stubs_.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no blobstore shard #", shard, " (", stubs_.size(), " configured)"));
  }
  const Stub& target = stubs_[shard];
  grpc::ClientContext ctx;
  SetDeadline(&ctx, opts_.rpc_timeout);
  PutChunkResponse response;
  auto stream = target.stub->PutChunk(&ctx, &response);
  PutChunkRequest request;
  PutChunkHeader* header = request.mutable_header();
  header->set_request_id(request_id);
  header->set_digest(std::string(digest));
  header->set_size(data.size());
  // A failed Write means the server has already answered (or the call
  // broke): stop sending and let Finish() say which.
  bool ok = stream->Write(request);
  for (size_t pos = 0; ok && pos < data.size(); pos += kPieceSize) {
    request.set_data(data.data() + pos,
                     std::min(kPieceSize, data.size() - pos));
    ok = stream->Write(request);
  }
  if (ok) stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return FromGrpc(status,
                    absl::StrCat("PutChunk ", digest, " to shard ", target.id));
  }
  if (response.error().reason() != berth::REASON_UNSPECIFIED) {
    return ShardError(response.error(), target.id);
  }
  return response.already_present();
}

absl::Status BlobClient::FetchChunk(const ChunkRef& ref,
                                    std::string* out) const {
  // Later: prefer a replica in our zone and fail over to the others.
  const Stub* source = nullptr;
  for (const std::string& id : ref.shards()) {
    for (const Stub& s : stubs_) {
      if (s.id == id) source = &s;
    }
    if (source != nullptr) break;
  }
  if (source == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("chunk ", ref.digest(), ": none of its shards [",
                     absl::StrJoin(ref.shards(), ", "), "] is known"));
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx, opts_.rpc_timeout);
  GetChunkRequest request;
  request.set_digest(ref.digest());
  auto reader = source->stub->GetChunk(&ctx, request);

  const std::string where =
      absl::StrCat("chunk ", ref.digest(), " from shard ", source->id);
  out->clear();
  out->reserve(ref.size());
  Sha256 hasher;
  absl::Status error;
  GetChunkResponse response;
  bool first = true;
  while (reader->Read(&response)) {
    if (response.error().reason() != berth::REASON_UNSPECIFIED) {
      error = ShardError(response.error(), source->id);
      break;
    }
    if (first && response.chunk_size() != ref.size()) {
      error = absl::DataLossError(
          absl::StrCat(where, " has ", response.chunk_size(),
                       " bytes, expected ", ref.size()));
      break;
    }
    first = false;
    if (response.data().size() > ref.size() - out->size()) {
      error = absl::DataLossError(
          absl::StrCat(where, " is longer than ", ref.size(), " bytes"));
      break;
    }
    out->append(response.data());
    hasher.Update(response.data());
  }
  if (!error.ok()) {
    ctx.TryCancel();
    reader->Finish();
    return error;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpc(status, absl::StrCat("GetChunk ", where));
  if (out->size() != ref.size()) {
    return absl::DataLossError(absl::StrCat(where, " ended after ", out->size(),
                                            " of ", ref.size(), " bytes"));
  }
  std::string actual = hasher.HexDigest();
  if (actual != ref.digest()) {
    return absl::DataLossError(
        absl::StrCat(where, " is corrupt: its bytes hash to ", actual));
  }
  return absl::OkStatus();
}

absl::Status BlobClient::ReadLayer(
    const LayerManifest& m, uint64_t offset, uint64_t length,
    const std::function<absl::Status(absl::string_view)>& sink) const {
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
  std::string chunk;  // One chunk at a time bounds memory.
  uint64_t chunk_start = 0;
  for (const ChunkRef& ref : m.chunks()) {
    if (chunk_start >= end) break;
    const uint64_t chunk_end = chunk_start + ref.size();
    if (chunk_end > offset) {
      if (absl::Status s = FetchChunk(ref, &chunk); !s.ok()) return s;
      const uint64_t lo = std::max(offset, chunk_start) - chunk_start;
      const uint64_t hi = std::min(end, chunk_end) - chunk_start;
      absl::Status s = sink(absl::string_view(chunk).substr(lo, hi - lo));
      if (!s.ok()) return s;
    }
    chunk_start = chunk_end;
  }
  return absl::OkStatus();
}

}  // namespace berth::blob
