// An LRU cache of complete images' metadata records, bounded in bytes.
//
// Contract: only records in state COMPLETE are admitted. A complete image
// never changes (no command rewrites its json, headers, layer manifest or
// checksums), so an entry needs no invalidation and every frontend of a
// cluster may keep its own — except when gc deletes unreachable images:
// then ClusterConfig.images_deleted_generation changes and Invalidate()
// drops every entry (a re-pushed id must not look present). Permission checks are NOT cached: callers
// still ask AccessControl on every request (repository privacy can change).
//
// Thread-safe: one mutex guards the index and the recency list; readers get
// a shared_ptr to an immutable record and use it outside the lock.
#ifndef BERTH_FRONTEND_IMAGE_CACHE_H_
#define BERTH_FRONTEND_IMAGE_CACHE_H_

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "proto/metadata.pb.h"

namespace berth::frontend {

class ImageCache {
 public:
  // `max_bytes` = 0 disables the cache.
  explicit ImageCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The cached record of image `id`, or null. `need_json`: a record cached
  // without its json does not count.
  std::shared_ptr<const meta::ImageRecord> Get(const std::string& id,
                                               bool need_json);
  // Admits `record` (ignored unless COMPLETE); `has_json` tells whether its
  // json field was requested. Evicts least recently used entries past
  // max_bytes. Records larger than an eighth of the budget are not kept.
  void Put(std::shared_ptr<const meta::ImageRecord> record, bool has_json);

  // Drops every entry when `generation` differs from the one last seen
  // (the first call only records it).
  void Invalidate(uint64_t generation);

  size_t bytes() const;
  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const meta::ImageRecord> record;
    bool has_json = false;
    size_t bytes = 0;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  void EraseLocked(absl::flat_hash_map<std::string, Entry>::iterator it);

  const size_t max_bytes_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> lru_;  // most recent first; guarded by mu_
  size_t bytes_ = 0;            // guarded by mu_
  uint64_t generation_ = 0;     // guarded by mu_
};

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_IMAGE_CACHE_H_
