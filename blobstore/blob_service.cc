#include "blobstore/blob_service.h"

#include "blobstore/errors.h"
#include "spdlog/spdlog.h"

namespace berth::blob {
namespace {

void SetError(const absl::Status& status, berth::Error* error) {
  *error = ToError(status);
}

}  // namespace

grpc::Status BlobService::PutChunk(grpc::ServerContext* context,
                                   grpc::ServerReader<PutChunkRequest>* reader,
                                   PutChunkResponse* response) {
  PutChunkRequest request;
  if (!reader->Read(&request) || !request.has_header()) {
    SetError(MakeError(berth::INVALID_ARGUMENT,
                       "PutChunk: the first message must be the header"),
             response->mutable_error());
    return grpc::Status::OK;
  }
  const PutChunkHeader header = request.header();
  auto writer = store_->BeginWrite(header.digest(), header.size());
  if (!writer.ok()) {
    SetError(writer.status(), response->mutable_error());
    return grpc::Status::OK;
  }
  while (reader->Read(&request)) {
    if (!request.has_data()) {
      SetError(MakeError(berth::INVALID_ARGUMENT,
                         "PutChunk: only data may follow the header"),
               response->mutable_error());
      return grpc::Status::OK;  // The writer's destructor drops the temp file.
    }
    if (absl::Status s = (*writer)->Append(request.data()); !s.ok()) {
      SetError(s, response->mutable_error());
      return grpc::Status::OK;
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
    SetError(present.status(), response->mutable_error());
    return grpc::Status::OK;
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
    if (!s.ok()) {
      if (ReasonOf(s) == berth::STORAGE_ERROR) {
        spdlog::error("GetChunk {}: {}", request->digest(), s.ToString());
      }
      SetError(s, last.mutable_error());
    }
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
  } else if (ReasonOf(size.status()) != berth::CHUNK_NOT_FOUND) {
    SetError(size.status(), response->mutable_error());
  }
  return grpc::Status::OK;
}

}  // namespace berth::blob
