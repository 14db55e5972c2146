#include "blobstore/chunk_wire.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace berth::blob {
namespace {

// GetChunkResponse field numbers (proto/blobstore.proto).
constexpr uint32_t kDataField = 1;
constexpr uint32_t kChunkSizeField = 2;
constexpr uint32_t kErrorField = 3;

constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("malformed GetChunk response: ", what));
}

// Reads the concatenation of the spans front to back.
class Cursor {
 public:
  explicit Cursor(const std::vector<absl::string_view>& spans)
      : spans_(spans) {
    Settle();
  }

  bool AtEnd() const { return i_ == spans_.size(); }

  bool ReadByte(uint8_t* b) {
    if (AtEnd()) return false;
    *b = static_cast<uint8_t>(spans_[i_][pos_]);
    ++pos_;
    Settle();
    return true;
  }

  bool ReadVarint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!ReadByte(&b)) return false;
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // more than 10 bytes
  }

  // Hands the next n bytes to fn(string_view) span by span; false if fewer
  // than n bytes remain.
  template <typename Fn>
  bool Take(uint64_t n, Fn fn) {
    while (n > 0) {
      if (AtEnd()) return false;
      const size_t k = static_cast<size_t>(
          std::min<uint64_t>(n, spans_[i_].size() - pos_));
      fn(spans_[i_].substr(pos_, k));
      pos_ += k;
      n -= k;
      Settle();
    }
    return true;
  }

 private:
  // Moves past exhausted (and empty) spans.
  void Settle() {
    while (i_ < spans_.size() && pos_ == spans_[i_].size()) {
      ++i_;
      pos_ = 0;
    }
  }

  const std::vector<absl::string_view>& spans_;
  size_t i_ = 0;
  size_t pos_ = 0;
};

}  // namespace

std::string EncodeGetChunkHeader(bool with_chunk_size, uint64_t chunk_size,
                                 uint64_t data_size) {
  std::string out;
  out.reserve(24);
  if (with_chunk_size && chunk_size != 0) {  // proto3 omits a zero
    PutVarint(kChunkSizeField << 3 | kVarint, &out);
    PutVarint(chunk_size, &out);
  }
  PutVarint(kDataField << 3 | kLengthDelimited, &out);
  PutVarint(data_size, &out);
  return out;
}

absl::Status ParseGetChunkResponse(const std::vector<absl::string_view>& spans,
                                   GetChunkResponseView* out) {
  *out = GetChunkResponseView();
  Cursor c(spans);
  bool have_data = false;
  while (!c.AtEnd()) {
    uint64_t key;
    if (!c.ReadVarint(&key)) return Malformed("truncated tag");
    const uint64_t field = key >> 3;
    const uint32_t type = static_cast<uint32_t>(key & 7);
    if (field == 0) return Malformed("field number 0");
    if (field == kDataField && type == kLengthDelimited) {
      if (have_data) return Malformed("data field repeated");
      have_data = true;
      uint64_t n;
      if (!c.ReadVarint(&n)) return Malformed("truncated data length");
      out->data_size = n;
      if (!c.Take(n, [&](absl::string_view v) { out->data.push_back(v); })) {
        return Malformed("truncated data");
      }
    } else if (field == kChunkSizeField && type == kVarint) {
      if (!c.ReadVarint(&out->chunk_size)) {
        return Malformed("truncated chunk_size");
      }
    } else if (field == kErrorField && type == kLengthDelimited) {
      uint64_t n;
      if (!c.ReadVarint(&n)) return Malformed("truncated error length");
      std::string bytes;
      if (!c.Take(n, [&](absl::string_view v) {
            bytes.append(v.data(), v.size());
          })) {
        return Malformed("truncated error");
      }
      // Repeated occurrences of a message field merge, as in protobuf.
      berth::Error part;
      if (!part.ParseFromString(bytes)) return Malformed("bad error field");
      out->error.MergeFrom(part);
    } else {
      // An unknown (or differently typed) field: skip it.
      uint64_t n = 0;
      switch (type) {
        case kVarint:
          if (!c.ReadVarint(&n)) return Malformed("truncated varint");
          break;
        case kFixed64:
        case kFixed32:
          if (!c.Take(type == kFixed64 ? 8 : 4, [](absl::string_view) {})) {
            return Malformed("truncated fixed field");
          }
          break;
        case kLengthDelimited:
          if (!c.ReadVarint(&n) || !c.Take(n, [](absl::string_view) {})) {
            return Malformed("truncated field");
          }
          break;
        default:
          return Malformed(absl::StrCat("wire type ", type));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::blob
