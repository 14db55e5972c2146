#include "blobstore/errors.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace berth::blob {
namespace {

constexpr absl::string_view kReasonPayload = "type.berth/berth.Reason";

absl::Status WithReason(absl::StatusCode code, berth::Reason reason,
                        absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kReasonPayload, absl::Cord(absl::StrCat(reason)));
  return status;
}

}  // namespace

absl::StatusCode ReasonCode(berth::Reason reason) {
  switch (reason) {
    case berth::REASON_UNSPECIFIED:
      return absl::StatusCode::kOk;
    case berth::INVALID_ARGUMENT:
    case berth::CHECKSUM_MISMATCH:
    case berth::CHUNK_DIGEST_MISMATCH:
    case berth::CHUNK_SIZE_MISMATCH:
      return absl::StatusCode::kInvalidArgument;
    case berth::IMAGE_NOT_FOUND:
    case berth::PARENT_NOT_FOUND:
    case berth::REPOSITORY_NOT_FOUND:
    case berth::TAG_NOT_FOUND:
    case berth::CHUNK_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case berth::IMAGE_ALREADY_EXISTS:
      return absl::StatusCode::kAlreadyExists;
    case berth::IMAGE_INCOMPLETE:
    case berth::NO_LAYER:
    case berth::JSON_CHANGED:
      return absl::StatusCode::kFailedPrecondition;
    case berth::STORAGE_ERROR:
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status MakeError(berth::Reason reason, absl::string_view message) {
  absl::StatusCode code = ReasonCode(reason);
  // A reason that maps to OK would silently turn an error into success.
  if (code == absl::StatusCode::kOk) code = absl::StatusCode::kUnknown;
  return WithReason(code, reason, message);
}

absl::Status ErrnoError(int err, absl::string_view what) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (err == ENOSPC || err == EDQUOT) {
    code = absl::StatusCode::kResourceExhausted;
  } else if (err == EACCES || err == EPERM || err == EROFS) {
    code = absl::StatusCode::kPermissionDenied;
  }
  return WithReason(code, berth::STORAGE_ERROR,
                    absl::StrCat(what, ": ", std::strerror(err)));
}

berth::Reason ReasonOf(const absl::Status& status) {
  if (status.ok()) return berth::REASON_UNSPECIFIED;
  if (auto payload = status.GetPayload(kReasonPayload)) {
    int value = 0;
    if (absl::SimpleAtoi(std::string(*payload), &value) &&
        berth::Reason_IsValid(value) && value != berth::REASON_UNSPECIFIED) {
      return static_cast<berth::Reason>(value);
    }
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return berth::CHUNK_NOT_FOUND;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return berth::INVALID_ARGUMENT;
    default:
      return berth::STORAGE_ERROR;
  }
}

berth::Error ToError(const absl::Status& status) {
  berth::Error error;
  if (status.ok()) return error;
  error.set_reason(ReasonOf(status));
  error.set_message(std::string(status.message()));
  return error;
}

absl::Status FromError(const berth::Error& error) {
  if (error.reason() == berth::REASON_UNSPECIFIED) return absl::OkStatus();
  return MakeError(error.reason(), error.message());
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(context, ": ", status.error_message()));
}

}  // namespace berth::blob
