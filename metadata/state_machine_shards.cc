// Apply for shard map management, drain and repair: a shard's state, the
// cluster's replication factor, and the rewrite of a layer manifest's
// shard lists after copies moved (berthctl shards drain / repair).
// PutShard and RemoveShard live with the other config commands in
// state_machine_accounts.cc.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "metadata/state_machine.h"

namespace berth::meta::internal {
namespace {

CommandResult Ok() { return CommandResult(); }

CommandResult ApplySetShardState(const SetShardState& cmd,
                                 const StateView& state, StateWriter* writer) {
  if (cmd.state() != SHARD_ACTIVE && cmd.state() != SHARD_DRAINING &&
      cmd.state() != SHARD_DOWN) {
    return Fail(INVALID_ARGUMENT, "shard state must be active, draining or down");
  }
  ClusterConfig config = state.GetConfig();
  auto* shards = config.mutable_shards();
  auto it = std::find_if(shards->begin(), shards->end(),
                         [&](const ShardInfo& s) { return s.id() == cmd.id(); });
  if (it == shards->end()) {
    return Fail(SHARD_NOT_FOUND, absl::StrCat("Shard not found: ", cmd.id()));
  }
  // Idempotent: a rerun of `shards drain` changes nothing (no version bump,
  // so frontends do not rebuild their clients for nothing).
  if (it->state() == cmd.state()) return Ok();
  it->set_state(cmd.state());
  config.set_shard_map_version(config.shard_map_version() + 1);
  writer->PutConfig(config);
  return Ok();
}

CommandResult ApplySetReplication(const SetReplication& cmd,
                                  const StateView& state, StateWriter* writer) {
  if (cmd.replicas() < 1 || cmd.replicas() > 16 || cmd.write_quorum() < 1 ||
      cmd.write_quorum() > cmd.replicas()) {
    return Fail(INVALID_ARGUMENT,
                "replication needs 1 <= write quorum <= replicas <= 16");
  }
  ClusterConfig config = state.GetConfig();
  if (config.replicas() == cmd.replicas() &&
      config.write_quorum() == cmd.write_quorum()) {
    return Ok();
  }
  config.set_replicas(cmd.replicas());
  config.set_write_quorum(cmd.write_quorum());
  config.set_shard_map_version(config.shard_map_version() + 1);
  writer->PutConfig(config);
  return Ok();
}

// True when `a` and `b` describe the same bytes: same total size and the
// same chunk digests and sizes in the same order.
bool SameChunks(const blob::LayerManifest& a, const blob::LayerManifest& b) {
  if (a.total_size() != b.total_size() || a.chunks_size() != b.chunks_size()) {
    return false;
  }
  for (int i = 0; i < a.chunks_size(); ++i) {
    if (a.chunks(i).digest() != b.chunks(i).digest() ||
        a.chunks(i).size() != b.chunks(i).size()) {
      return false;
    }
  }
  return true;
}

CommandResult ApplyUpdateLayerShards(const UpdateLayerShards& cmd,
                                     const StateView& state,
                                     StateWriter* writer) {
  std::optional<ImageRecord> image = state.GetImage(cmd.image_id());
  if (!image) return Fail(IMAGE_NOT_FOUND, "Image not found");
  if (image->state() != LAYER_UPLOADED && image->state() != COMPLETE) {
    return Fail(INVALID_ARGUMENT, "Image has no layer");
  }
  if (!SameChunks(image->layer(), cmd.layer())) {
    // The layer was replaced since the repair read it (an unfinished image
    // re-uploaded), or the caller is wrong: never change what a layer is.
    return Fail(INVALID_ARGUMENT,
                "layer manifest differs from the stored one (chunks changed)");
  }
  // Chunk references are keyed by (digest, image): unchanged.
  *image->mutable_layer() = cmd.layer();
  writer->PutImage(*image);
  return Ok();
}

}  // namespace

CommandResult ApplyShardCommand(const Command& command, const StateView& state,
                                StateWriter* writer) {
  switch (command.op_case()) {
    case Command::kSetShardState:
      return ApplySetShardState(command.set_shard_state(), state, writer);
    case Command::kSetReplication:
      return ApplySetReplication(command.set_replication(), state, writer);
    case Command::kUpdateLayerShards:
      return ApplyUpdateLayerShards(command.update_layer_shards(), state,
                                    writer);
    default:
      return Fail(INVALID_ARGUMENT, "not a shard command");
  }
}

}  // namespace berth::meta::internal
