// Checkpoint transfer for bootstrapping a replica: a peer writes a RocksDB
// checkpoint and streams its files over gRPC (Admin.StreamCheckpoint); the
// new replica writes them into a fresh directory, fsyncs them and opens it
// as its store, then tails the log from the checkpoint's position.
// Both functions block the calling thread; no shared state.
#ifndef BERTH_METADATA_CHECKPOINT_H_
#define BERTH_METADATA_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"
#include "metadata/store.h"
#include "proto/admin.pb.h"

namespace berth::meta {

// Writes a checkpoint of `store` under `scratch_dir` (removed afterwards)
// and hands its files to `send` in pieces; the first piece carries the
// checkpoint's applied position. `send` returns false when the receiver
// went away.
absl::Status StreamCheckpoint(
    const Store& store, const std::string& scratch_dir,
    const std::function<bool(const CheckpointChunk&)>& send);

// Fetches a checkpoint from the metad at `address` into `dir` (which must
// not exist; removed again on error). Returns the checkpoint's position.
// `security`: the channel's TLS (default insecure).
absl::StatusOr<uint64_t> FetchCheckpoint(
    const std::string& address, const std::string& dir, absl::Duration timeout,
    const tls::ChannelSecurity& security = {});

}  // namespace berth::meta

#endif  // BERTH_METADATA_CHECKPOINT_H_
