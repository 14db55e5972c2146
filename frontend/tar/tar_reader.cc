#include "frontend/tar/tar_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace berth::tar {
namespace {

constexpr size_t kBlock = 512;
// A long name, long link or PAX header larger than this is abuse.
constexpr size_t kMaxSpecial = 1 << 20;

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("not a valid tar: ", why));
}

std::string Str(const char* p, size_t n) {
  const void* nul = std::memchr(p, 0, n);
  return std::string(p, nul ? static_cast<const char*>(nul) - p : n);
}

// Numeric header field: GNU base-256 when the top bit is set, else octal
// with surrounding spaces/NULs stripped (empty = 0).
bool ParseNumber(const char* p, size_t n, int64_t* out) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  if (u[0] & 0x80) {
    // Big-endian two's complement; bit 0x40 of the first byte is the sign.
    bool negative = (u[0] & 0x40) != 0;
    uint64_t v = negative ? ~uint64_t{0} : 0;
    v = (v << 8) | (u[0] & 0x7f) | (negative ? 0x80 : 0);
    for (size_t i = 1; i < n; ++i) v = (v << 8) | u[i];
    *out = static_cast<int64_t>(v);
    return true;
  }
  size_t b = 0, e = n;
  while (b < e && (p[b] == ' ' || p[b] == '\0')) ++b;
  while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\0')) --e;
  int64_t v = 0;
  for (size_t i = b; i < e; ++i) {
    if (p[i] < '0' || p[i] > '7') return false;
    if (v > (INT64_MAX >> 3)) return false;
    v = v * 8 + (p[i] - '0');
  }
  *out = v;
  return true;
}

bool AllZero(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

absl::Status TarReader::Feed(absl::string_view data) {
  while (!data.empty()) {
    switch (state_) {
      case State::kEnd:
        return absl::OkStatus();
      case State::kHeader: {
        size_t take = std::min(kBlock - block_.size(), data.size());
        block_.append(data.data(), take);
        data.remove_prefix(take);
        if (block_.size() == kBlock) {
          absl::Status st = OnHeaderBlock();
          block_.clear();
          if (!st.ok()) return st;
        }
        break;
      }
      case State::kData:
      case State::kSpecial: {
        size_t take = static_cast<size_t>(
            std::min<uint64_t>(remaining_, data.size()));
        if (state_ == State::kData) {
          consumer_->OnData(data.substr(0, take));
        } else {
          special_.append(data.data(), take);
        }
        data.remove_prefix(take);
        remaining_ -= take;
        if (remaining_ == 0) {
          if (state_ == State::kSpecial) {
            if (absl::Status st = ApplySpecial(); !st.ok()) return st;
          } else {
            EndEntry();
          }
          state_ = padding_ ? State::kPadding : State::kHeader;
        }
        break;
      }
      case State::kPadding: {
        size_t take = static_cast<size_t>(
            std::min<uint64_t>(padding_, data.size()));
        data.remove_prefix(take);
        padding_ -= take;
        if (padding_ == 0) state_ = State::kHeader;
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status TarReader::Finish() {
  switch (state_) {
    case State::kEnd:
      return absl::OkStatus();
    case State::kHeader:
      // No bytes left, or a partial all-NUL block: the archive ends.
      if (AllZero(block_)) return absl::OkStatus();
      return Invalid("truncated header");
    case State::kPadding:
      return Invalid("truncated padding");
    default:
      return Invalid("truncated entry data");
  }
}

absl::Status TarReader::OnHeaderBlock() {
  const char* h = block_.data();
  if (AllZero(block_)) {
    state_ = State::kEnd;
    return absl::OkStatus();
  }
  int64_t stored = 0;
  if (!ParseNumber(h + 148, 8, &stored)) return Invalid("bad checksum field");
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= 148 && i < 156;
    unsigned char u = in_field ? ' ' : static_cast<unsigned char>(h[i]);
    signed char s = in_field ? ' ' : static_cast<signed char>(h[i]);
    unsigned_sum += u;
    signed_sum += s;
  }
  if (stored != unsigned_sum && stored != signed_sum) {
    return Invalid("header checksum mismatch");
  }
  TarEntry e;
  e.name = Str(h, 100);
  int64_t size = 0;
  if (!ParseNumber(h + 100, 8, &e.mode) || !ParseNumber(h + 108, 8, &e.uid) ||
      !ParseNumber(h + 116, 8, &e.gid) || !ParseNumber(h + 124, 12, &size) ||
      !ParseNumber(h + 136, 12, &e.mtime) ||
      !ParseNumber(h + 329, 8, &e.devmajor) ||
      !ParseNumber(h + 337, 8, &e.devminor)) {
    return Invalid("bad numeric field");
  }
  e.typeflag = h[156];
  e.linkname = Str(h + 157, 100);
  e.uname = Str(h + 265, 32);
  e.gname = Str(h + 297, 32);
  if (std::memcmp(h + 257, "ustar\0", 6) == 0) {
    bool star = std::memcmp(h + 508, "tar\0", 4) == 0;
    std::string prefix = Str(h + 345, star ? 131 : 155);
    if (!prefix.empty()) e.name = prefix + "/" + e.name;
  }
  if (e.typeflag == 'S') return Invalid("GNU sparse files are not supported");

  // Apply overrides collected from preceding special entries.
  if (e.typeflag != 'L' && e.typeflag != 'K' && e.typeflag != 'x') {
    if (has_long_name_) e.name = long_name_;
    if (has_long_link_) e.linkname = long_link_;
    for (const auto& [key, value] : pax_) {
      if (key == "path") {
        e.name = value;
      } else if (key == "linkpath") {
        e.linkname = value;
      } else if (key == "uname") {
        e.uname = value;
      } else if (key == "gname") {
        e.gname = value;
      } else if (key == "uid" || key == "gid" || key == "size") {
        int64_t v = 0;
        if (!absl::SimpleAtoi(value, &v)) return Invalid("bad PAX number");
        (key == "uid" ? e.uid : key == "gid" ? e.gid : size) = v;
      } else if (key == "mtime") {
        double v = 0;
        if (!absl::SimpleAtod(value, &v)) return Invalid("bad PAX mtime");
        e.mtime = static_cast<int64_t>(std::floor(v));
      } else if (absl::StartsWith(key, "SCHILY.xattr.")) {
        e.xattrs[key.substr(13)] = value;
      } else if (absl::StartsWith(key, "GNU.sparse.")) {
        return Invalid("GNU sparse files are not supported");
      }
    }
    has_long_name_ = has_long_link_ = false;
    long_name_.clear();
    long_link_.clear();
    pax_.clear();
  }
  if (size < 0) return Invalid("negative size");
  e.size = size;
  remaining_ = static_cast<uint64_t>(size);
  padding_ = (kBlock - remaining_ % kBlock) % kBlock;
  if (e.typeflag == 'L' || e.typeflag == 'K' || e.typeflag == 'x') {
    if (remaining_ > kMaxSpecial) return Invalid("special entry too large");
    special_type_ = e.typeflag;
    special_.clear();
    state_ = State::kSpecial;
    if (remaining_ == 0) {
      if (absl::Status st = ApplySpecial(); !st.ok()) return st;
      state_ = State::kHeader;
    }
    return absl::OkStatus();
  }
  ++entries_;
  consumer_->OnEntry(e);
  state_ = State::kData;
  if (remaining_ == 0) {
    EndEntry();
    state_ = State::kHeader;
  }
  return absl::OkStatus();
}

void TarReader::EndEntry() { consumer_->OnEntryEnd(); }

absl::Status TarReader::ApplySpecial() {
  if (special_type_ == 'L') {
    has_long_name_ = true;
    long_name_ = Str(special_.data(), special_.size());
    return absl::OkStatus();
  }
  if (special_type_ == 'K') {
    has_long_link_ = true;
    long_link_ = Str(special_.data(), special_.size());
    return absl::OkStatus();
  }
  // PAX records: "<len> <key>=<value>\n", <len> counting the whole record.
  absl::string_view rest = special_;
  while (!rest.empty()) {
    size_t space = rest.find(' ');
    uint64_t len = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtoi(rest.substr(0, space), &len) || len <= space + 1 ||
        len > rest.size() || rest[len - 1] != '\n') {
      return Invalid("bad PAX record");
    }
    absl::string_view record = rest.substr(space + 1, len - space - 2);
    rest.remove_prefix(len);
    size_t eq = record.find('=');
    if (eq == absl::string_view::npos) return Invalid("bad PAX record");
    pax_[std::string(record.substr(0, eq))] = std::string(record.substr(eq + 1));
  }
  return absl::OkStatus();
}

}  // namespace berth::tar
