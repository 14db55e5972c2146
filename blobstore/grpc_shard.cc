// GrpcShardConnection: the ShardConnection of a blobd over gRPC.
//
// Thread-safety: stateless besides the channels, stubs and the lane
// counter (all thread-safe); each call owns its ClientContext and buffers.
//
// Lanes: a connection may hold several channels to the same blobd, each
// with its own HTTP/2 connection. Chunk transfers (GetChunk, PutChunk)
// take the lanes in turn: gRPC processes one connection's frames on one
// thread at a time, so concurrent chunk streams (read-ahead, the write
// window) over a single connection leave the other core idle on the
// receiving side.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "blobstore/chunk_wire.h"
#include "blobstore/errors.h"
#include "blobstore/limits.h"
#include "blobstore/shard_connection.h"
#include "grpcpp/support/byte_buffer.h"
#include "proto/blobstore.grpc.pb.h"

namespace berth::blob {
namespace {

// The generated stub's name for GetChunk (proto/blobstore.proto).
constexpr char kGetChunkMethod[] = "/berth.blob.Blobstore/GetChunk";

// Data pieces of a PutChunk stream. Smaller than kPieceSize to bound what
// several concurrent streams hold in gRPC's buffers.
constexpr size_t kPutPiece = 64 << 10;

class GrpcShardConnection final : public ShardConnection {
 public:
  GrpcShardConnection(std::string id,
                      std::vector<std::shared_ptr<grpc::Channel>> channels)
      : id_(std::move(id)) {
    for (std::shared_ptr<grpc::Channel>& channel : channels) {
      lanes_.push_back(std::make_unique<Lane>(std::move(channel)));
    }
  }

  absl::StatusOr<bool> PutChunk(absl::string_view request_id,
                                absl::string_view digest,
                                absl::string_view data, absl::Time deadline,
                                CallCanceller* canceller) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    PutChunkResponse response;
    if (canceller != nullptr) canceller->Register([&ctx] { ctx.TryCancel(); });
    struct Unregister {
      CallCanceller* c;
      ~Unregister() {
        if (c != nullptr) c->Unregister();
      }
    } unregister{canceller};
    auto stream = NextLane().stub->PutChunk(&ctx, &response);
    PutChunkRequest request;
    PutChunkHeader* header = request.mutable_header();
    header->set_request_id(std::string(request_id));
    header->set_digest(std::string(digest));
    header->set_size(data.size());
    // A failed Write means the server has already answered (or the call
    // broke): stop sending and let Finish() say which.
    bool ok = stream->Write(request);
    for (size_t pos = 0; ok && pos < data.size(); pos += kPutPiece) {
      request.set_data(data.data() + pos,
                       std::min(kPutPiece, data.size() - pos));
      ok = stream->Write(request);
    }
    if (ok) stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (!status.ok()) {
      return FromGrpc(status,
                      absl::StrCat("PutChunk ", digest, " to shard ", id_));
    }
    if (absl::Status s = Domain(response.error()); !s.ok()) return s;
    return response.already_present();
  }

  // Reads the GetChunk stream raw (ByteBuffers, no protobuf parse): each
  // message's data field is viewed in place in gRPC's receive slices
  // (ParseGetChunkResponse), hashed there, then copied once into dst. So a
  // byte is copied from the socket into gRPC's slice and from there into
  // dst, and hashed while that slice is still in cache.
  absl::Status GetChunk(absl::string_view digest, uint64_t size, char* dst,
                        Sha256* hasher, absl::Time deadline) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    GetChunkRequest request;
    request.set_digest(std::string(digest));
    const Lane& lane = NextLane();
    std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader(
        grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
            lane.channel.get(), lane.get_chunk, &ctx, request));
    const std::string where =
        absl::StrCat("chunk ", digest, " from shard ", id_);
    absl::Status error;
    grpc::ByteBuffer message;
    std::vector<grpc::Slice> slices;
    std::vector<absl::string_view> spans;
    GetChunkResponseView response;
    bool first = true;
    uint64_t got = 0;
    while (reader->Read(&message)) {
      slices.clear();
      spans.clear();
      if (grpc::Status d = message.Dump(&slices); !d.ok()) {
        error = FromGrpc(d, absl::StrCat("GetChunk ", where));
        break;
      }
      for (const grpc::Slice& slice : slices) {
        spans.emplace_back(reinterpret_cast<const char*>(slice.begin()),
                           slice.size());
      }
      if (absl::Status p = ParseGetChunkResponse(spans, &response); !p.ok()) {
        error = absl::Status(
            p.code(), absl::StrCat("GetChunk ", where, ": ", p.message()));
        break;
      }
      if (response.error.reason() != berth::REASON_UNSPECIFIED) {
        error = Domain(response.error);
        break;
      }
      if (first && response.chunk_size != size) {
        error = MakeError(berth::CHUNK_SIZE_MISMATCH,
                          absl::StrCat(where, " has ", response.chunk_size,
                                       " bytes, expected ", size));
        break;
      }
      first = false;
      if (response.data_size > size - got) {
        error =
            MakeError(berth::CHUNK_SIZE_MISMATCH,
                      absl::StrCat(where, " is longer than ", size, " bytes"));
        break;
      }
      for (absl::string_view piece : response.data) {
        hasher->Update(piece);
        std::memcpy(dst + got, piece.data(), piece.size());
        got += piece.size();
      }
      // Drop our references so the receive buffers can be reused.
      slices.clear();
      message.Clear();
    }
    if (!error.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return error;
    }
    grpc::Status status = reader->Finish();
    if (!status.ok()) return FromGrpc(status, absl::StrCat("GetChunk ", where));
    if (got != size) {
      return MakeError(
          berth::CHUNK_SIZE_MISMATCH,
          absl::StrCat(where, " ended after ", got, " of ", size, " bytes"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> StatChunk(absl::string_view digest,
                                     absl::Time deadline) override {
    StatChunkRequest request;
    request.set_digest(std::string(digest));
    StatChunkResponse response;
    if (absl::Status s = Unary(&Blobstore::Stub::StatChunk, "StatChunk",
                               request, &response, deadline);
        !s.ok()) {
      return s;
    }
    if (!response.present()) {
      return MakeError(
          berth::CHUNK_NOT_FOUND,
          absl::StrCat("shard ", id_, ": chunk ", digest, " not found"));
    }
    return response.size();
  }

  absl::StatusOr<ListPage> ListChunks(absl::string_view start_after,
                                      uint32_t limit,
                                      absl::Time deadline) override {
    ListChunksRequest request;
    request.set_start_after(std::string(start_after));
    request.set_limit(limit);
    ListChunksResponse response;
    if (absl::Status s = Unary(&Blobstore::Stub::ListChunks, "ListChunks",
                               request, &response, deadline);
        !s.ok()) {
      return s;
    }
    ListPage page;
    for (const ChunkInfo& c : response.chunks()) {
      page.chunks.push_back({c.digest(), c.size(), c.mtime_unix_nanos()});
    }
    page.next_start_after = response.next_start_after();
    return page;
  }

  absl::StatusOr<bool> DeleteChunk(absl::string_view digest,
                                   int64_t unless_modified_after,
                                   absl::Time deadline) override {
    DeleteChunkRequest request;
    request.set_digest(std::string(digest));
    request.set_unless_modified_after_unix_nanos(unless_modified_after);
    DeleteChunkResponse response;
    if (absl::Status s = Unary(&Blobstore::Stub::DeleteChunk, "DeleteChunk",
                               request, &response, deadline);
        !s.ok()) {
      return s;
    }
    return !response.kept();
  }

  absl::StatusOr<VerifyResult> VerifyChunk(absl::string_view digest,
                                           bool quarantine,
                                           absl::Time deadline) override {
    VerifyChunkRequest request;
    request.set_digest(std::string(digest));
    request.set_quarantine(quarantine);
    VerifyChunkResponse response;
    if (absl::Status s = Unary(&Blobstore::Stub::VerifyChunk, "VerifyChunk",
                               request, &response, deadline);
        !s.ok()) {
      return s;
    }
    VerifyResult r;
    r.good = response.good();
    r.size = response.size();
    r.actual_digest = response.actual_digest();
    r.quarantined = response.quarantined();
    return r;
  }

  absl::StatusOr<StoreCapacity> Capacity(absl::Time deadline) override {
    CapacityRequest request;
    CapacityResponse response;
    if (absl::Status s = Unary(&Blobstore::Stub::Capacity, "Capacity", request,
                               &response, deadline);
        !s.ok()) {
      return s;
    }
    StoreCapacity c;
    c.total_bytes = response.total_bytes();
    c.free_bytes = response.free_bytes();
    c.used_bytes = response.used_bytes();
    c.chunk_count = response.chunk_count();
    return c;
  }

 private:
  // One unary call with `deadline`: transport failures keep their gRPC
  // code, domain errors in the response keep their berth::Reason.
  template <class Request, class Response>
  absl::Status Unary(grpc::Status (Blobstore::Stub::*rpc)(grpc::ClientContext*,
                                                          const Request&,
                                                          Response*),
                     const char* name, const Request& request,
                     Response* response, absl::Time deadline) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    grpc::Status status =
        (lanes_.front()->stub.get()->*rpc)(&ctx, request, response);
    if (!status.ok()) return FromGrpc(status, Context(name));
    return Domain(response->error());
  }

  std::string Context(absl::string_view rpc) const {
    return absl::StrCat(rpc, " on shard ", id_);
  }
  // A domain error from this shard, keeping its reason.
  absl::Status Domain(const berth::Error& error) const {
    if (error.reason() == berth::REASON_UNSPECIFIED) return absl::OkStatus();
    return MakeError(error.reason(),
                     absl::StrCat("shard ", id_, ": ", error.message()));
  }

  struct Lane {
    explicit Lane(std::shared_ptr<grpc::Channel> c)
        : channel(std::move(c)),
          stub(Blobstore::NewStub(channel)),
          get_chunk(kGetChunkMethod,
                    grpc::internal::RpcMethod::SERVER_STREAMING, channel) {}
    const std::shared_ptr<grpc::Channel> channel;
    const std::unique_ptr<Blobstore::Stub> stub;
    // GetChunk read raw: responses arrive as ByteBuffers (see GetChunk).
    const grpc::internal::RpcMethod get_chunk;
  };
  // The lane of the next chunk transfer (round robin).
  const Lane& NextLane() {
    return *lanes_[next_lane_.fetch_add(1, std::memory_order_relaxed) %
                   lanes_.size()];
  }

  const std::string id_;
  std::vector<std::unique_ptr<Lane>> lanes_;  // at least one; fixed
  std::atomic<uint64_t> next_lane_{0};
};

}  // namespace

std::shared_ptr<ShardConnection> NewGrpcShardConnection(
    std::string id, std::shared_ptr<grpc::Channel> channel) {
  std::vector<std::shared_ptr<grpc::Channel>> channels{std::move(channel)};
  return std::make_shared<GrpcShardConnection>(std::move(id),
                                               std::move(channels));
}

std::shared_ptr<ShardConnection> DialGrpcShard(
    std::string id, const std::string& address,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args, int lanes) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::max(1, lanes); ++i) {
    grpc::ChannelArguments lane_args = args;
    // A subchannel pool of its own: channels with equal arguments would
    // otherwise share one connection.
    lane_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    lane_args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(
        grpc::CreateCustomChannel(address, credentials, lane_args));
  }
  return std::make_shared<GrpcShardConnection>(std::move(id),
                                               std::move(channels));
}

}  // namespace berth::blob
