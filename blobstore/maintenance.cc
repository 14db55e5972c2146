#include "blobstore/maintenance.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "blobstore/errors.h"
#include "common/sha256.h"
#include "spdlog/spdlog.h"

namespace berth::blob {
namespace {

absl::StatusOr<size_t> ShardIndex(const BlobClient& client,
                                  absl::string_view id) {
  int i = client.IndexOf(id);
  if (i < 0) {
    return absl::NotFoundError(absl::StrCat("no shard '", id, "' in the map"));
  }
  return static_cast<size_t>(i);
}

int64_t UnixNanos(absl::Time t) { return absl::ToUnixNanos(t); }

// What one shard holds of one chunk.
enum class Copy { kGood, kBadRemoved, kAbsent, kUnknown };

Copy CheckCopy(const BlobClient& client, size_t shard, const ChunkRef& ref,
               bool verify) {
  ShardConnection& conn = *client.shards()[shard].conn;
  if (verify) {
    auto r = conn.VerifyChunk(ref.digest(), /*quarantine=*/true,
                              client.Deadline());
    if (r.ok()) {
      if (r->good && r->size == ref.size()) return Copy::kGood;
      spdlog::warn("repair: shard {} had a corrupt copy of {}{}",
                   client.shard_map()[shard].id, ref.digest(),
                   r->quarantined ? " (quarantined)" : "");
      return r->quarantined ? Copy::kBadRemoved : Copy::kUnknown;
    }
    if (ReasonOf(r.status()) == berth::CHUNK_NOT_FOUND &&
        r.status().code() == absl::StatusCode::kNotFound) {
      return Copy::kAbsent;
    }
    spdlog::warn("repair: cannot verify {} on shard {}: {}", ref.digest(),
                 client.shard_map()[shard].id, r.status().ToString());
    return Copy::kUnknown;
  }
  auto size = conn.StatChunk(ref.digest(), client.Deadline());
  if (size.ok()) return *size == ref.size() ? Copy::kGood : Copy::kUnknown;
  if (size.status().code() == absl::StatusCode::kNotFound) return Copy::kAbsent;
  return Copy::kUnknown;
}

}  // namespace

absl::StatusOr<ScrubReport> ScrubShard(const BlobClient& client,
                                       absl::string_view shard_id,
                                       const ScrubOptions& options) {
  auto index = ShardIndex(client, shard_id);
  if (!index.ok()) return index.status();
  ShardConnection& conn = *client.shards()[*index].conn;
  ScrubReport report;
  std::string after;
  do {
    auto page = conn.ListChunks(after, options.page_size, client.Deadline());
    if (!page.ok()) return page.status();
    for (const ChunkEntry& e : page->chunks) {
      auto r = conn.VerifyChunk(e.digest, options.quarantine,
                                client.Deadline());
      if (!r.ok()) {
        // Deleted between the list and the verify: nothing to check.
        if (r.status().code() == absl::StatusCode::kNotFound) continue;
        return r.status();
      }
      ++report.chunks;
      report.bytes += r->size;
      if (!r->good) {
        report.corrupt.push_back(e.digest);
        if (r->quarantined) ++report.quarantined;
      }
    }
    after = page->next_start_after;
  } while (!after.empty());
  spdlog::info("scrub of shard {}: {} chunks, {} bytes, {} corrupt",
               std::string(shard_id), report.chunks, report.bytes, report.corrupt.size());
  return report;
}

absl::StatusOr<RepairReport> Repair(const BlobClient& client,
                                    std::vector<LayerManifest>* manifests,
                                    const RepairOptions& options) {
  // Distinct chunks, with every shard any ref names.
  std::map<std::string, ChunkRef> chunks;
  for (const LayerManifest& m : *manifests) {
    for (const ChunkRef& ref : m.chunks()) {
      if (!IsSha256Hex(ref.digest())) {
        return absl::InvalidArgumentError(
            absl::StrCat("manifest names chunk '", ref.digest(), "'"));
      }
      auto [it, added] = chunks.emplace(ref.digest(), ref);
      if (!added) {
        for (const std::string& s : ref.shards()) it->second.add_shards(s);
      }
    }
  }
  const std::vector<ShardInfo>& map = client.shard_map();
  RepairReport report;
  absl::flat_hash_map<std::string, std::vector<std::string>> holders_of;
  std::string buf;
  for (auto& [digest, ref] : chunks) {
    ++report.chunks;
    const std::vector<size_t> placed = client.Place(digest);
    std::vector<size_t> check = placed;
    for (const std::string& id : ref.shards()) {
      int i = client.IndexOf(id);
      if (i >= 0 && map[i].state != ShardState::kDown &&
          std::find(check.begin(), check.end(), i) == check.end()) {
        check.push_back(static_cast<size_t>(i));
      }
    }
    std::vector<Copy> copies;
    for (size_t i : check) {
      copies.push_back(CheckCopy(client, i, ref, options.verify));
      if (copies.back() == Copy::kBadRemoved) ++report.bad_copies_removed;
    }
    size_t good_active = 0;
    int source = -1;
    for (size_t k = 0; k < check.size(); ++k) {
      if (copies[k] != Copy::kGood) continue;
      if (source < 0) source = static_cast<int>(check[k]);
      if (map[check[k]].state == ShardState::kActive) ++good_active;
    }
    if (source < 0) {
      spdlog::error("repair: chunk {} has no good copy left", digest);
      report.lost.push_back(digest);
      continue;
    }
    // Fill placed shards lacking a good copy until R good copies exist.
    bool fetched = false;
    for (size_t k = 0; k < placed.size() && good_active < client.replicas();
         ++k) {
      if (copies[k] == Copy::kGood || copies[k] == Copy::kUnknown) continue;
      if (!fetched) {
        ChunkRef from = ref;
        from.clear_shards();
        from.add_shards(map[source].id);
        std::vector<BadCopy> bad;
        if (absl::Status s = client.FetchChunk(from, &buf, &bad); !s.ok()) {
          spdlog::error("repair: cannot read {} from {}: {}", digest,
                        map[source].id, s.ToString());
          break;
        }
        fetched = true;
      }
      auto put = client.PutChunk(placed[k], "repair", digest, buf);
      if (!put.ok()) {
        spdlog::warn("repair: cannot copy {} to {}: {}", digest,
                     map[placed[k]].id, put.status().ToString());
        continue;
      }
      copies[k] = Copy::kGood;
      ++good_active;
      ++report.copies_made;
      spdlog::debug("repair: copied {} from {} to {}", digest, map[source].id,
                   map[placed[k]].id);
    }
    if (good_active < client.replicas()) report.under_replicated.push_back(digest);
    std::vector<std::string>& holders = holders_of[digest];
    for (size_t k = 0; k < check.size(); ++k) {
      if (copies[k] == Copy::kGood) holders.push_back(map[check[k]].id);
    }
  }
  for (LayerManifest& m : *manifests) {
    for (ChunkRef& ref : *m.mutable_chunks()) {
      auto it = holders_of.find(ref.digest());
      if (it == holders_of.end()) continue;  // lost: keep what it said
      ref.clear_shards();
      for (const std::string& id : it->second) ref.add_shards(id);
    }
  }
  spdlog::info("repair: {} chunks, {} copies made, {} corrupt copies removed, "
               "{} under-replicated, {} lost",
               report.chunks, report.copies_made, report.bad_copies_removed,
               report.under_replicated.size(), report.lost.size());
  return report;
}

absl::StatusOr<SweepReport> SweepShard(
    const BlobClient& client, absl::string_view shard_id,
    const absl::flat_hash_set<std::string>& live, absl::Duration grace,
    absl::Time now) {
  auto index = ShardIndex(client, shard_id);
  if (!index.ok()) return index.status();
  ShardConnection& conn = *client.shards()[*index].conn;
  const int64_t cutoff = UnixNanos(now - grace);
  SweepReport report;
  std::string after;
  do {
    auto page = conn.ListChunks(after, 1000, client.Deadline());
    if (!page.ok()) return page.status();
    for (const ChunkEntry& e : page->chunks) {
      ++report.listed;
      if (live.contains(e.digest)) {
        ++report.kept_live;
        continue;
      }
      if (e.mtime_unix_nanos > cutoff) {
        ++report.kept_young;
        continue;
      }
      auto deleted = conn.DeleteChunk(e.digest, cutoff, client.Deadline());
      if (!deleted.ok()) {
        if (deleted.status().code() == absl::StatusCode::kNotFound) continue;
        return deleted.status();
      }
      if (*deleted) {
        ++report.deleted;
        report.bytes_deleted += e.size;
      } else {
        ++report.kept_young;
      }
    }
    after = page->next_start_after;
  } while (!after.empty());
  spdlog::info("sweep of shard {}: {} listed, {} deleted ({} bytes), {} live, "
               "{} within the grace period",
               std::string(shard_id), report.listed, report.deleted, report.bytes_deleted,
               report.kept_live, report.kept_young);
  return report;
}

}  // namespace berth::blob
