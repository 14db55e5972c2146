#include "tools/ctl/layer_repair.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "blobstore/maintenance.h"
#include "spdlog/spdlog.h"

namespace berth::ctl {
namespace {

// Images per blob::Repair call: chunks shared inside a batch (a base layer
// re-pushed under several ids) are examined once.
constexpr size_t kBatch = 32;

// The image's record (linearizable), or nullopt when it has no layer any
// more (its json was replaced meanwhile).
absl::StatusOr<std::optional<meta::ImageRecord>> ReadLayerImage(
    meta::MetadataClient& metadata, const std::string& id) {
  meta::GetImageRequest request;
  request.set_id(id);
  auto response = metadata.GetImage(request);
  if (!response.ok()) return response.status();
  // Incomplete images are answered too; what matters is the record's
  // state. IMAGE_NOT_FOUND: gone since the listing.
  if (response->error().reason() != REASON_UNSPECIFIED ||
      response->image().id().empty()) {
    return std::optional<meta::ImageRecord>();
  }
  const meta::ImageRecord& image = response->image();
  if ((image.state() != meta::LAYER_UPLOADED &&
       image.state() != meta::COMPLETE) ||
      image.layer().chunks_size() == 0) {
    return std::optional<meta::ImageRecord>();
  }
  return std::optional<meta::ImageRecord>(image);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListLayerImages(
    meta::MetadataClient& metadata) {
  std::vector<std::string> ids;
  meta::ListChunkRefsRequest request;
  request.set_limit(1000);
  while (true) {
    auto page = metadata.ListChunkRefs(request);
    if (!page.ok()) return page.status();
    if (page->error().reason() != REASON_UNSPECIFIED) {
      return absl::InternalError(
          absl::StrCat("listing chunk references: ", page->error().message()));
    }
    for (const meta::ChunkRefs& refs : page->chunks()) {
      for (const std::string& id : refs.image_ids()) ids.push_back(id);
    }
    if (!page->more() || page->chunks_size() == 0) break;
    request.set_start_after(page->chunks(page->chunks_size() - 1).digest());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

absl::StatusOr<RepairSummary> RepairImages(
    meta::MetadataClient& metadata, const blob::BlobClient& blobs,
    const std::vector<std::string>& image_ids,
    const std::function<void(size_t, size_t)>& progress) {
  RepairSummary summary;
  for (size_t start = 0; start < image_ids.size(); start += kBatch) {
    const size_t end = std::min(image_ids.size(), start + kBatch);
    std::vector<meta::ImageRecord> images;
    std::vector<blob::LayerManifest> manifests;
    for (size_t i = start; i < end; ++i) {
      auto image = ReadLayerImage(metadata, image_ids[i]);
      if (!image.ok()) return image.status();
      if (!image->has_value()) continue;
      manifests.push_back((*image)->layer());
      images.push_back(std::move(**image));
    }
    if (!images.empty()) {
      auto report = blob::Repair(blobs, &manifests);
      if (!report.ok()) return report.status();
      summary.images += images.size();
      summary.chunks += report->chunks;
      summary.copies_made += report->copies_made;
      summary.bad_copies_removed += report->bad_copies_removed;
      summary.under_replicated.insert(report->under_replicated.begin(),
                                      report->under_replicated.end());
      summary.lost.insert(report->lost.begin(), report->lost.end());
      for (size_t k = 0; k < images.size(); ++k) {
        if (manifests[k].SerializeAsString() ==
            images[k].layer().SerializeAsString()) {
          continue;
        }
        meta::Command command;
        command.mutable_update_layer_shards()->set_image_id(images[k].id());
        *command.mutable_update_layer_shards()->mutable_layer() = manifests[k];
        auto result = metadata.Execute(command);
        if (!result.ok()) return result.status();
        if (result->error().reason() == REASON_UNSPECIFIED) {
          ++summary.images_updated;
        } else {
          // Re-uploaded since we read it: the new manifest names the
          // shards that just acked it; a later repair examines it.
          spdlog::info("repair: image {} left as is: {}", images[k].id(),
                       result->error().message());
          ++summary.images_changed;
        }
      }
    }
    if (progress) progress(end, image_ids.size());
  }
  return summary;
}

absl::StatusOr<std::vector<std::string>> ChunksNeedingShard(
    meta::MetadataClient& metadata, const blob::BlobClient& blobs,
    const std::string& shard_id, size_t max_report) {
  auto ids = ListLayerImages(metadata);
  if (!ids.ok()) return ids.status();
  const std::vector<blob::ShardInfo>& map = blobs.shard_map();
  absl::flat_hash_map<std::string, bool> checked;  // digest -> enough copies
  std::vector<std::string> needing;
  for (const std::string& id : *ids) {
    auto image = ReadLayerImage(metadata, id);
    if (!image.ok()) return image.status();
    if (!image->has_value()) continue;
    for (const blob::ChunkRef& ref : (*image)->layer().chunks()) {
      if (std::find(ref.shards().begin(), ref.shards().end(), shard_id) ==
          ref.shards().end()) {
        continue;
      }
      auto [it, fresh] = checked.emplace(ref.digest(), false);
      if (fresh) {
        size_t present = 0;
        for (const std::string& other : ref.shards()) {
          int i = blobs.IndexOf(other);
          if (other == shard_id || i < 0 ||
              map[i].state != blob::ShardState::kActive) {
            continue;
          }
          auto size = blobs.shards()[i].conn->StatChunk(ref.digest(),
                                                        blobs.Deadline());
          if (size.ok() && *size == ref.size()) ++present;
        }
        it->second = present >= blobs.replicas();
      }
      if (!it->second) {
        needing.push_back(absl::StrCat(id, " chunk ", ref.digest()));
        if (needing.size() >= max_report) return needing;
      }
    }
  }
  return needing;
}

}  // namespace berth::ctl
