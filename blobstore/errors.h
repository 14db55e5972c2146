// Domain errors of the blobstore as absl::Status, and their wire form.
//
// Every domain error carries a berth::Reason as a status payload, so a
// Status -> berth::Error -> Status round trip keeps the reason exactly. The
// absl code follows the reason (ReasonCode); storage errors made from an
// errno keep a more precise code locally (RESOURCE_EXHAUSTED for ENOSPC,
// PERMISSION_DENIED for EACCES), which becomes INTERNAL after the wire.
#ifndef BERTH_BLOBSTORE_ERRORS_H_
#define BERTH_BLOBSTORE_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"
#include "proto/common.pb.h"

namespace berth::blob {

// The absl code a reason maps to (e.g. CHUNK_NOT_FOUND -> NOT_FOUND).
absl::StatusCode ReasonCode(berth::Reason reason);

// A status with `reason` attached and the code from ReasonCode.
absl::Status MakeError(berth::Reason reason, absl::string_view message);

// A STORAGE_ERROR for a failed system call: "<what>: <strerror(err)>".
absl::Status ErrnoError(int err, absl::string_view what);

// The reason attached to `status`; for statuses without one, a best guess
// from the code (NOT_FOUND -> CHUNK_NOT_FOUND, INVALID_ARGUMENT and
// OUT_OF_RANGE -> INVALID_ARGUMENT, anything else -> STORAGE_ERROR). OK ->
// REASON_UNSPECIFIED.
berth::Reason ReasonOf(const absl::Status& status);

// Status <-> wire. ToError(OK) is an empty Error (reason unset);
// FromError of an Error with reason unset is OK.
berth::Error ToError(const absl::Status& status);
absl::Status FromError(const berth::Error& error);

// A gRPC transport status as absl::Status (same code), prefixed with
// `context` (e.g. "PutChunk to shard-1").
absl::Status FromGrpc(const grpc::Status& status, absl::string_view context);

}  // namespace berth::blob

#endif  // BERTH_BLOBSTORE_ERRORS_H_
