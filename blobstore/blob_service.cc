#include "blobstore/blob_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "blobstore/errors.h"
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

grpc::Status BlobService::GetChunk(
    grpc::ServerContext* context, const GetChunkRequest* request,
    grpc::ServerWriter<GetChunkResponse>* writer) {
  uint64_t chunk_size = 0;
  bool sent_any = false;
  bool stream_broken = false;
  absl::Status s = store_->Read(
      request->digest(), request->offset(), request->length(),
      [&](absl::string_view piece) {
        GetChunkResponse response;
        response.set_data(piece.data(), piece.size());
        if (!sent_any) response.set_chunk_size(chunk_size);
        if (!writer->Write(response)) {
          stream_broken = true;
          return absl::CancelledError("client went away");
        }
        sent_any = true;
        return absl::OkStatus();
      },
      &chunk_size);
  if (stream_broken || context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "GetChunk cancelled");
  }
  if (!s.ok() || !sent_any) {
    // An error ends the stream; an empty range still reports the size.
    GetChunkResponse last;
    if (!sent_any) last.set_chunk_size(chunk_size);
    grpc::Status g = Answer(s, "GetChunk", last.mutable_error());
    if (!g.ok()) return g;
    writer->Write(last);
  }
  return grpc::Status::OK;
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
  return grpc::Status::OK;
}

}  // namespace berth::blob
