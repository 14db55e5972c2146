// The wire form of GetChunkResponse messages, encoded and decoded without
// copying their `data` field (proto/blobstore.proto is unchanged: both
// sides stay compatible with any protobuf peer).
//
// Server side: a data message is a few header bytes (EncodeGetChunkHeader)
// followed by the piece itself as a separate gRPC slice, so the bytes the
// shard pread()s go to the socket without protobuf copying them twice.
//
// Client side: ParseGetChunkResponse walks the received message's slices
// and returns views of the data field into them, so the reader hashes and
// stores each piece straight from gRPC's receive buffers.
//
// Pure functions, thread-compatible; no gRPC dependency.
#ifndef BERTH_BLOBSTORE_CHUNK_WIRE_H_
#define BERTH_BLOBSTORE_CHUNK_WIRE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/common.pb.h"

namespace berth::blob {

// The bytes preceding a `data_size`-byte data field in a GetChunkResponse:
// chunk_size (field 2) first when `with_chunk_size` (the first message of
// a stream), then the tag and length of data (field 1). Protobuf accepts
// fields in any order, so header + data parses as a GetChunkResponse.
std::string EncodeGetChunkHeader(bool with_chunk_size, uint64_t chunk_size,
                                 uint64_t data_size);

// One GetChunkResponse, seen in place.
struct GetChunkResponseView {
  // The data field as views into the caller's spans, in order (a field
  // split across spans gives several views; empty views are dropped).
  std::vector<absl::string_view> data;
  uint64_t data_size = 0;
  uint64_t chunk_size = 0;
  berth::Error error;  // reason unset when the message carries none
};

// Parses a GetChunkResponse message whose bytes are the concatenation of
// `spans` (e.g. the slices of a received grpc::ByteBuffer). Unknown fields
// are skipped. INTERNAL for malformed wire bytes, including a data field
// given twice (protobuf would keep the last, which a streaming reader
// cannot honour). `out` views into `spans`' memory: valid while it is.
absl::Status ParseGetChunkResponse(const std::vector<absl::string_view>& spans,
                                   GetChunkResponseView* out);

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_CHUNK_WIRE_H_
