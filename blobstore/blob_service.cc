#include "blobstore/blob_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "blobstore/chunk_wire.h"
#include "blobstore/errors.h"
#include "blobstore/limits.h"
#include "spdlog/spdlog.h"

namespace berth::blob {
namespace {

constexpr uint32_t kDefaultListLimit = 1000;
constexpr uint32_t kMaxListLimit = 10000;

}  // namespace

grpc::Status BlobService::Answer(const absl::Status& status, const char* rpc,
                                 berth::Error* error) const {
  if (status.ok()) return grpc::Status::OK;
  if (ReasonOf(status) != berth::STORAGE_ERROR) {
    *error = ToError(status);
    return grpc::Status::OK;
  }
  spdlog::error("{} on shard {}: {}", rpc, shard_id_, status.ToString());
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      absl::StrCat("shard ", shard_id_, ": ", rpc, ": ",
                                   status.message()));
}

grpc::Status BlobService::PutChunk(grpc::ServerContext* context,
                                   grpc::ServerReader<PutChunkRequest>* reader,
                                   PutChunkResponse* response) {
  PutChunkRequest request;
  if (!reader->Read(&request) || !request.has_header()) {
    return Answer(MakeError(berth::INVALID_ARGUMENT,
                            "PutChunk: the first message must be the header"),
                  "PutChunk", response->mutable_error());
  }
  const PutChunkHeader header = request.header();
  auto writer = store_->BeginWrite(header.digest(), header.size());
  if (!writer.ok()) {
    return Answer(writer.status(), "PutChunk", response->mutable_error());
  }
  while (reader->Read(&request)) {
    if (!request.has_data()) {
      // The writer's destructor drops the temp file.
      return Answer(MakeError(berth::INVALID_ARGUMENT,
                              "PutChunk: only data may follow the header"),
                    "PutChunk", response->mutable_error());
    }
    if (absl::Status s = (*writer)->Append(request.data()); !s.ok()) {
      return Answer(s, "PutChunk", response->mutable_error());
    }
  }
  // A cancelled stream also ends Read(); never commit what it left behind.
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "PutChunk cancelled");
  }
  absl::StatusOr<bool> present = (*writer)->Commit();
  if (!present.ok()) {
    spdlog::warn("PutChunk {} (request {}) refused: {}", header.digest(),
                 header.request_id(), present.status().ToString());
    return Answer(present.status(), "PutChunk", response->mutable_error());
  }
  response->set_already_present(*present);
  spdlog::debug("PutChunk {} ({} bytes, request {}){}", header.digest(),
                header.size(), header.request_id(),
                *present ? " already present" : "");
  return grpc::Status::OK;
}

namespace {

// Destroy callback of a data slice: returns the piece's buffer to its pool
// (on whichever gRPC thread drops the last reference).
void ReleasePiece(void* piece) { delete static_cast<PooledBuffer*>(piece); }

// One raw GetChunkResponse: `header` then the first `n` bytes of `piece`,
// whose ownership moves into the message.
grpc::ByteBuffer DataMessage(const std::string& header, PooledBuffer piece,
                             size_t n) {
  auto* owned = new PooledBuffer(std::move(piece));
  grpc::Slice slices[2] = {
      grpc::Slice(header),
      grpc::Slice(owned->get(), n, &ReleasePiece, owned)};
  return grpc::ByteBuffer(slices, 2);
}

grpc::ByteBuffer Serialized(const GetChunkResponse& response) {
  grpc::Slice slice(response.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

BlobService::BlobService(ChunkStore* store, std::string shard_id)
    : store_(store),
      shard_id_(std::move(shard_id)),
      read_buffers_(BufferPool::Create(kPieceSize, kIdleReadBuffers)) {
  // GetChunk is method 1 of the service (proto/blobstore.proto). Clients
  // see the same stream: one request in, GetChunkResponse messages out.
  MarkMethodStreamed(
      1, new grpc::internal::SplitServerStreamingHandler<GetChunkRequest,
                                                         grpc::ByteBuffer>(
             [this](grpc::ServerContext* context,
                    grpc::ServerSplitStreamer<GetChunkRequest,
                                              grpc::ByteBuffer>* stream) {
               return RawGetChunk(context, stream);
             }));
}

grpc::Status BlobService::RawGetChunk(
    grpc::ServerContext* context,
    grpc::ServerSplitStreamer<GetChunkRequest, grpc::ByteBuffer>* stream) {
  GetChunkRequest request;
  if (!stream->Read(&request)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "GetChunk: no request");
  }
  // An error ends the stream; an empty range still reports the size.
  auto finish = [&](const absl::Status& s, bool sent_any,
                    uint64_t chunk_size) -> grpc::Status {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "GetChunk cancelled");
    }
    if (s.ok() && sent_any) return grpc::Status::OK;
    GetChunkResponse last;
    if (!sent_any) last.set_chunk_size(chunk_size);
    grpc::Status g = Answer(s, "GetChunk", last.mutable_error());
    if (!g.ok()) return g;
    stream->Write(Serialized(last));
    return grpc::Status::OK;
  };
  absl::StatusOr<std::unique_ptr<ChunkFile>> file =
      store_->OpenChunk(request.digest());
  if (!file.ok()) return finish(file.status(), false, 0);
  const uint64_t size = (*file)->size();
  const uint64_t offset = request.offset();
  const uint64_t length = request.length();
  if (offset > size || length > size - offset) {
    return finish(MakeError(berth::INVALID_ARGUMENT,
                            absl::StrCat("range ", offset, "+", length,
                                         " outside chunk ", request.digest(),
                                         " of ", size, " bytes")),
                  false, 0);
  }
  const uint64_t end = length == 0 ? size : offset + length;
  bool sent_any = false;
  for (uint64_t pos = offset; pos < end;) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(kPieceSize, end - pos));
    PooledBuffer piece = read_buffers_->Get(n);
    absl::StatusOr<size_t> got = (*file)->ReadAt(pos, piece.get(), n);
    if (got.ok() && *got < n) {
      got = MakeError(berth::STORAGE_ERROR,
                      absl::StrCat((*file)->path(), " ended early at byte ",
                                   pos + *got));
    }
    if (!got.ok()) return finish(got.status(), sent_any, size);
    const std::string header = EncodeGetChunkHeader(!sent_any, size, n);
    if (!stream->Write(DataMessage(header, std::move(piece), n))) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "GetChunk cancelled");
    }
    sent_any = true;
    pos += n;
  }
  return finish(absl::OkStatus(), sent_any, size);
}

grpc::Status BlobService::StatChunk(grpc::ServerContext* context,
                                    const StatChunkRequest* request,
                                    StatChunkResponse* response) {
  absl::StatusOr<uint64_t> size = store_->Stat(request->digest());
  if (size.ok()) {
    response->set_present(true);
    response->set_size(*size);
    return grpc::Status::OK;
  }
  if (ReasonOf(size.status()) == berth::CHUNK_NOT_FOUND) {
    return grpc::Status::OK;
  }
  return Answer(size.status(), "StatChunk", response->mutable_error());
}

grpc::Status BlobService::ListChunks(grpc::ServerContext* context,
                                     const ListChunksRequest* request,
                                     ListChunksResponse* response) {
  uint32_t limit = request->limit() == 0 ? kDefaultListLimit
                                         : std::min(request->limit(),
                                                    kMaxListLimit);
  auto page = store_->List(request->start_after(), limit);
  if (!page.ok()) {
    return Answer(page.status(), "ListChunks", response->mutable_error());
  }
  for (const ChunkEntry& e : *page) {
    ChunkInfo* info = response->add_chunks();
    info->set_digest(e.digest);
    info->set_size(e.size);
    info->set_mtime_unix_nanos(e.mtime_unix_nanos);
  }
  if (page->size() == limit) response->set_next_start_after(page->back().digest);
  return grpc::Status::OK;
}

grpc::Status BlobService::DeleteChunk(grpc::ServerContext* context,
                                      const DeleteChunkRequest* request,
                                      DeleteChunkResponse* response) {
  absl::StatusOr<bool> deleted = store_->Delete(
      request->digest(), request->unless_modified_after_unix_nanos());
  if (!deleted.ok()) {
    return Answer(deleted.status(), "DeleteChunk", response->mutable_error());
  }
  response->set_kept(!*deleted);
  if (*deleted) {
    spdlog::info("shard {}: deleted chunk {}", shard_id_, request->digest());
  }
  return grpc::Status::OK;
}

grpc::Status BlobService::VerifyChunk(grpc::ServerContext* context,
                                      const VerifyChunkRequest* request,
                                      VerifyChunkResponse* response) {
  auto result = store_->Verify(request->digest(), request->quarantine());
  if (!result.ok()) {
    return Answer(result.status(), "VerifyChunk", response->mutable_error());
  }
  response->set_good(result->good);
  response->set_size(result->size);
  response->set_actual_digest(result->actual_digest);
  response->set_quarantined(result->quarantined);
  return grpc::Status::OK;
}

grpc::Status BlobService::Capacity(grpc::ServerContext* context,
                                   const CapacityRequest* request,
                                   CapacityResponse* response) {
  auto c = store_->Capacity();
  if (!c.ok()) return Answer(c.status(), "Capacity", response->mutable_error());
  response->set_total_bytes(c->total_bytes);
  response->set_free_bytes(c->free_bytes);
  response->set_used_bytes(c->used_bytes);
  response->set_chunk_count(c->chunk_count);
  response->set_shard_id(shard_id_);
  return grpc::Status::OK;
}

}  // namespace berth::blob
