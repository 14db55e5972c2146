// A push parser for tar archives that keeps the raw header fields TarSum
// needs (spec §3.2.3): typeflag bytes, whole mode fields, PAX records, GNU
// long names, PAX global headers as ordinary entries. libarchive normalises
// exactly these, so we read the headers ourselves.
//
// Not thread-safe; one owner feeds it in order.
#ifndef BERTH_FRONTEND_TAR_TAR_READER_H_
#define BERTH_FRONTEND_TAR_TAR_READER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth::tar {

struct TarEntry {
  std::string name;
  int64_t mode = 0;
  int64_t uid = 0;
  int64_t gid = 0;
  int64_t size = 0;
  int64_t mtime = 0;
  char typeflag = '0';
  std::string linkname;
  std::string uname;
  std::string gname;
  int64_t devmajor = 0;
  int64_t devminor = 0;
  std::map<std::string, std::string> xattrs;  // from SCHILY.xattr.*, sorted
};

class TarConsumer {
 public:
  virtual ~TarConsumer() = default;
  virtual void OnEntry(const TarEntry& entry) = 0;
  virtual void OnData(absl::string_view data) = 0;  // the entry's bytes
  virtual void OnEntryEnd() = 0;
};

class TarReader {
 public:
  explicit TarReader(TarConsumer* consumer) : consumer_(consumer) {}

  // Feeds the next bytes of the (decompressed) archive. INVALID_ARGUMENT
  // when the archive is not a valid tar (bad checksum, bad number, sparse
  // file, oversized special entry). Bytes after the end marker are ignored.
  absl::Status Feed(absl::string_view data);

  // Ends the input. INVALID_ARGUMENT if it stopped inside a header (other
  // than an all-NUL partial block) or inside an entry's data.
  absl::Status Finish();

  uint64_t entries() const { return entries_; }

 private:
  enum class State { kHeader, kData, kSpecial, kPadding, kEnd };
  absl::Status OnHeaderBlock();
  absl::Status ApplySpecial();
  void EndEntry();

  TarConsumer* const consumer_;
  State state_ = State::kHeader;
  std::string block_;          // partial header block
  uint64_t remaining_ = 0;     // data bytes left of the current entry
  uint64_t padding_ = 0;       // padding bytes left after the data
  char special_type_ = 0;      // 'L', 'K' or 'x' while collecting kSpecial
  std::string special_;        // data of the special entry being collected
  // Overrides collected from L/K/x entries for the next entry.
  bool has_long_name_ = false, has_long_link_ = false;
  std::string long_name_, long_link_;
  std::map<std::string, std::string> pax_;
  uint64_t entries_ = 0;
};

}  // namespace berth::tar

#endif  // BERTH_FRONTEND_TAR_TAR_READER_H_
