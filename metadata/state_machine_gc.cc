// Garbage collection in the state machine: upload intents (BeginUpload,
// EndUpload, and CommitLayer's check through ConsumeUploadIntent), the
// deletion of unreachable images (DeleteImages) and gc's mark phase
// (PlanGarbage, run by a replica on a read snapshot).
//
// Reachability: an image is live when a repository lists it (image lists
// hold every tagged image with its ancestry, so tags need no separate
// look), when it is touched (PutImageJson) at or after gc's cutoff, when an
// unexpired upload intent names it, or when it is the parent of a live
// image. Everything else is garbage. The mark runs outside apply on a
// snapshot; DeleteImages re-checks each candidate in apply against the
// state at its own log position, because pushes go on meanwhile.
//
// Intents: a frontend opens one before the first chunk write of a layer
// upload and a successful CommitLayer consumes it. gc sweeps only chunks
// written before the start of the oldest intent open at its DeleteImages
// position, so an upload's chunks survive until its commit references them.
// An intent expires (a crashed frontend); DeleteImages removes expired ones
// and a CommitLayer whose intent is gone fails UPLOAD_EXPIRED, so an
// upload whose chunks a gc may have swept can never publish its manifest.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "metadata/state_machine.h"

namespace berth::meta {
namespace {

using internal::Fail;

constexpr int64_t kMaxUploadTtlMs = int64_t{24} * 3600 * 1000;

std::optional<UploadIntent> GetIntent(const StateView& state,
                                      const std::string& id) {
  std::optional<std::string> bytes = state.Get(Table::kUploads, id);
  if (!bytes) return std::nullopt;
  UploadIntent intent;
  if (!intent.ParseFromString(*bytes)) return std::nullopt;
  return intent;
}

bool Expired(const UploadIntent& intent, int64_t now_unix_ms) {
  return intent.expires_unix_ms() <= now_unix_ms;
}

// When gc last saw the image change (unix ms; second resolution: the
// proposer's seconds clock of PutImageJson).
int64_t TouchedMs(const ImageRecord& image) {
  return std::max(image.created_unix(), image.touched_unix()) * 1000;
}

CommandResult Ok() { return CommandResult(); }

CommandResult ApplyBeginUpload(const BeginUpload& cmd, const StateView& state,
                               StateWriter* writer) {
  if (cmd.intent_id().empty() || cmd.image_id().empty()) {
    return Fail(INVALID_ARGUMENT, "upload intent needs an id and an image");
  }
  if (cmd.ttl_ms() <= 0 || cmd.ttl_ms() > kMaxUploadTtlMs) {
    return Fail(INVALID_ARGUMENT, "upload intent ttl must be in (0, 1 day]");
  }
  std::optional<UploadIntent> existing = GetIntent(state, cmd.intent_id());
  if (existing && existing->image_id() != cmd.image_id()) {
    return Fail(INVALID_ARGUMENT, "upload intent belongs to another image");
  }
  if (cmd.refresh() && !existing) {
    return Fail(UPLOAD_EXPIRED, "Upload expired, retry the layer upload");
  }
  UploadIntent intent;
  if (existing) {
    // A refresh extends; the start never moves later (chunks written since
    // the first start stay covered).
    intent = *existing;
    intent.set_started_unix_ms(
        std::min(existing->started_unix_ms(), cmd.now_unix_ms()));
    intent.set_expires_unix_ms(std::max(existing->expires_unix_ms(),
                                        cmd.now_unix_ms() + cmd.ttl_ms()));
  } else {
    intent.set_intent_id(cmd.intent_id());
    intent.set_image_id(cmd.image_id());
    intent.set_started_unix_ms(cmd.now_unix_ms());
    intent.set_expires_unix_ms(cmd.now_unix_ms() + cmd.ttl_ms());
  }
  writer->Put(Table::kUploads, intent.intent_id(), intent.SerializeAsString());
  return Ok();
}

CommandResult ApplyEndUpload(const EndUpload& cmd, const StateView& state,
                             StateWriter* writer) {
  if (cmd.intent_id().empty()) {
    return Fail(INVALID_ARGUMENT, "empty upload intent id");
  }
  if (state.Get(Table::kUploads, cmd.intent_id())) {
    writer->Delete(Table::kUploads, cmd.intent_id());
  }
  return Ok();
}

CommandResult ApplyDeleteImages(const DeleteImages& cmd, const StateView& state,
                                StateWriter* writer) {
  CommandResult result;
  GcResult* gc = result.mutable_gc();
  // Intents first: expired ones go (their uploads can no longer commit);
  // open ones protect their image and are reported for the sweep cutoff.
  absl::flat_hash_set<std::string> uploading;
  for (const auto& [key, value] : state.Scan(Table::kUploads, "")) {
    UploadIntent intent;
    if (!intent.ParseFromString(value) || Expired(intent, cmd.now_unix_ms())) {
      writer->Delete(Table::kUploads, key);
      gc->set_expired_uploads(gc->expired_uploads() + 1);
      continue;
    }
    uploading.insert(intent.image_id());
    gc->set_open_uploads(gc->open_uploads() + 1);
    if (gc->oldest_upload_unix_ms() == 0 ||
        intent.started_unix_ms() < gc->oldest_upload_unix_ms()) {
      gc->set_oldest_upload_unix_ms(intent.started_unix_ms());
    }
  }
  // Apply never sees its own writes: images deleted earlier in this
  // command are tracked here (a child deleted before its parent).
  absl::flat_hash_set<std::string> deleted;
  for (const std::string& id : cmd.ids()) {
    if (deleted.contains(id)) continue;
    std::optional<ImageRecord> image = state.GetImage(id);
    if (!image) continue;  // gone already (another gc)
    bool live = uploading.contains(id) ||
                TouchedMs(*image) >= cmd.cutoff_unix_ms() ||
                !state.Scan(Table::kImageRepos, ImageRepoKey(id, "")).empty();
    if (!live) {
      const std::string prefix = ImageChildKey(id, "");
      for (const auto& [key, unused] : state.Scan(Table::kImageChildren, prefix)) {
        if (!deleted.contains(key.substr(prefix.size()))) {
          live = true;
          break;
        }
      }
    }
    if (live) {
      gc->set_kept(gc->kept() + 1);
      continue;
    }
    for (const auto& chunk : image->layer().chunks()) {
      writer->Delete(Table::kChunkRefs, ChunkRefKey(chunk.digest(), id));
    }
    if (!image->parent().empty()) {
      writer->Delete(Table::kImageChildren, ImageChildKey(image->parent(), id));
    }
    writer->Delete(Table::kImages, id);
    deleted.insert(id);
    gc->add_deleted(id);
  }
  if (!deleted.empty()) {
    // Frontends cache complete images; this tells them some are gone.
    ClusterConfig config = state.GetConfig();
    config.set_images_deleted_generation(config.images_deleted_generation() + 1);
    writer->PutConfig(config);
  }
  return result;
}

}  // namespace

namespace internal {

CommandResult ApplyGcCommand(const Command& command, const StateView& state,
                             StateWriter* writer) {
  switch (command.op_case()) {
    case Command::kBeginUpload:
      return ApplyBeginUpload(command.begin_upload(), state, writer);
    case Command::kEndUpload:
      return ApplyEndUpload(command.end_upload(), state, writer);
    case Command::kDeleteImages:
      return ApplyDeleteImages(command.delete_images(), state, writer);
    default:
      return Fail(INVALID_ARGUMENT, "not a gc command");
  }
}

std::optional<CommandResult> ConsumeUploadIntent(const std::string& intent_id,
                                                 const StateView& state,
                                                 StateWriter* writer) {
  if (intent_id.empty()) return std::nullopt;
  if (!state.Get(Table::kUploads, intent_id)) {
    return Fail(UPLOAD_EXPIRED, "Upload expired, retry the layer upload");
  }
  writer->Delete(Table::kUploads, intent_id);
  return std::nullopt;
}

}  // namespace internal

GarbagePlan PlanGarbage(const StateView& state, int64_t cutoff_unix_ms,
                        int64_t now_unix_ms) {
  GarbagePlan plan;
  struct Node {
    std::string parent;
    int depth = 0;  // ancestry length: a child is deeper than its parent
    bool live = false;
  };
  absl::flat_hash_map<std::string, Node> images;
  std::vector<std::string> roots;
  state.ForEach(Table::kImages, "",
                [&](const std::string& id, const std::string& bytes) {
                  ImageRecord image;
                  if (!image.ParseFromString(bytes)) return;
                  Node& node = images[id];
                  node.parent = image.parent();
                  node.depth = image.ancestry_size();
                  if (TouchedMs(image) >= cutoff_unix_ms) roots.push_back(id);
                });
  plan.images = images.size();
  state.ForEach(Table::kImageRepos, "",
                [&](const std::string& key, const std::string&) {
                  roots.push_back(key.substr(0, key.find('\0')));
                });
  for (const auto& [key, value] : state.Scan(Table::kUploads, "")) {
    UploadIntent intent;
    if (!intent.ParseFromString(value) || Expired(intent, now_unix_ms)) continue;
    roots.push_back(intent.image_id());
    plan.open_uploads.push_back(std::move(intent));
  }
  // Mark: each root and its ancestry; a walk stops at the first image
  // already marked (its ancestry is marked too).
  for (const std::string& root : roots) {
    std::string id = root;
    while (!id.empty()) {
      auto it = images.find(id);
      if (it == images.end() || it->second.live) break;
      it->second.live = true;
      id = it->second.parent;
    }
  }
  std::vector<std::pair<int, std::string>> garbage;
  for (const auto& [id, node] : images) {
    if (!node.live) garbage.emplace_back(-node.depth, id);
  }
  std::sort(garbage.begin(), garbage.end());  // deepest (children) first
  for (auto& [depth, id] : garbage) plan.garbage.push_back(std::move(id));
  return plan;
}

}  // namespace berth::meta
