// LocalShardConnection: the ShardConnection of the in-process shard.
#include "absl/strings/str_cat.h"
#include "blobstore/errors.h"
#include "blobstore/shard_connection.h"

namespace berth::blob {
namespace {

// Keeps the reason, prefixes the shard id.
absl::Status Tag(const absl::Status& s, const std::string& id) {
  if (s.ok()) return s;
  absl::Status out(s.code(), absl::StrCat("shard ", id, ": ", s.message()));
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

class LocalShardConnection final : public ShardConnection {
 public:
  LocalShardConnection(std::string id, ChunkStore* store)
      : id_(std::move(id)), store_(store) {}

  absl::StatusOr<bool> PutChunk(absl::string_view request_id,
                                absl::string_view digest,
                                absl::string_view data, absl::Time deadline,
                                CallCanceller* canceller) override {
    // A local put is a file write: nothing to cancel.
    (void)canceller;
    auto writer = store_->BeginWrite(digest, data.size(), /*verify=*/false);
    if (!writer.ok()) return Tag(writer.status(), id_);
    if (absl::Status s = (*writer)->Append(data); !s.ok()) return Tag(s, id_);
    absl::StatusOr<bool> present = (*writer)->Commit();
    if (!present.ok()) return Tag(present.status(), id_);
    return *present;
  }

  absl::Status GetChunk(absl::string_view digest, uint64_t size, char* dst,
                        Sha256* hasher, absl::Time deadline) override {
    return Tag(store_->ReadInto(digest, size, dst,
                                [hasher](const char* p, size_t n) {
                                  hasher->Update(p, n);
                                }),
               id_);
  }

  absl::StatusOr<uint64_t> StatChunk(absl::string_view digest,
                                     absl::Time deadline) override {
    auto size = store_->Stat(digest);
    if (!size.ok()) return Tag(size.status(), id_);
    return *size;
  }

  absl::StatusOr<ListPage> ListChunks(absl::string_view start_after,
                                      uint32_t limit,
                                      absl::Time deadline) override {
    if (limit == 0) limit = 1000;
    auto entries = store_->List(start_after, limit);
    if (!entries.ok()) return Tag(entries.status(), id_);
    ListPage page;
    page.chunks = std::move(*entries);
    if (page.chunks.size() == limit) {
      page.next_start_after = page.chunks.back().digest;
    }
    return page;
  }

  absl::StatusOr<bool> DeleteChunk(absl::string_view digest,
                                   int64_t unless_modified_after,
                                   absl::Time deadline) override {
    auto deleted = store_->Delete(digest, unless_modified_after);
    if (!deleted.ok()) return Tag(deleted.status(), id_);
    return *deleted;
  }

  absl::StatusOr<VerifyResult> VerifyChunk(absl::string_view digest,
                                           bool quarantine,
                                           absl::Time deadline) override {
    auto r = store_->Verify(digest, quarantine);
    if (!r.ok()) return Tag(r.status(), id_);
    return *r;
  }

  absl::StatusOr<StoreCapacity> Capacity(absl::Time deadline) override {
    auto c = store_->Capacity();
    if (!c.ok()) return Tag(c.status(), id_);
    return *c;
  }

 private:
  const std::string id_;
  ChunkStore* const store_;
};

}  // namespace

std::shared_ptr<ShardConnection> NewLocalShardConnection(std::string id,
                                                         ChunkStore* store) {
  return std::make_shared<LocalShardConnection>(std::move(id), store);
}

}  // namespace berth::blob
