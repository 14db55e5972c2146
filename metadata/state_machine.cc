#include "metadata/state_machine.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace berth::meta {
namespace {

CommandResult Fail(Reason reason, std::string message) {
  CommandResult r;
  r.mutable_error()->set_reason(reason);
  r.mutable_error()->set_message(std::move(message));
  return r;
}

CommandResult Ok() { return CommandResult(); }

RepositoryRecord RepositoryOrNew(const StateView& state,
                                 const std::string& name) {
  std::optional<RepositoryRecord> repo = state.GetRepository(name);
  if (repo) return *repo;
  RepositoryRecord fresh;
  fresh.set_name(name);
  return fresh;
}

CommandResult ApplyMergeImageList(const std::string& name,
                                  const google::protobuf::RepeatedPtrField<
                                      ImageListEntry>& images,
                                  const StateView& state, StateWriter* writer) {
  if (name.empty()) return Fail(INVALID_ARGUMENT, "empty repository name");
  bool existed = state.GetRepository(name).has_value();
  RepositoryRecord repo = RepositoryOrNew(state, name);
  if (MergeImageList(images, &repo) || !existed) writer->PutRepository(repo);
  return Ok();
}

CommandResult ApplyPutImageJson(const PutImageJson& cmd, const StateView& state,
                                StateWriter* writer) {
  ImageRecord image;
  image.set_id(cmd.id());
  image.set_json(cmd.json());
  image.set_json_sha256(Sha256Hex(cmd.json()));
  image.set_parent(cmd.parent());
  image.add_ancestry(cmd.id());
  if (!cmd.parent().empty()) {
    std::optional<ImageRecord> parent = state.GetImage(cmd.parent());
    if (!parent) {
      return Fail(PARENT_NOT_FOUND, "Image depends on a non existing parent");
    }
    for (const auto& id : parent->ancestry()) image.add_ancestry(id);
  }
  std::optional<ImageRecord> existing = state.GetImage(cmd.id());
  if (existing && existing->state() == COMPLETE) {
    return Fail(IMAGE_ALREADY_EXISTS, "Image already exists");
  }
  image.set_state(JSON_UPLOADED);
  image.set_created_unix(existing ? existing->created_unix() : cmd.now_unix());
  writer->PutImage(image);
  return Ok();
}

CommandResult ApplyCommitLayer(const CommitLayer& cmd, const StateView& state,
                               StateWriter* writer) {
  std::optional<ImageRecord> image = state.GetImage(cmd.id());
  if (!image) return Fail(IMAGE_NOT_FOUND, "Image not found");
  if (image->state() == COMPLETE) {
    return Fail(IMAGE_ALREADY_EXISTS, "Image already exists");
  }
  if (image->json_sha256() != cmd.json_sha256()) {
    return Fail(JSON_CHANGED,
                "Image json was replaced during the layer upload, retry");
  }
  *image->mutable_layer() = cmd.layer();
  image->set_payload_checksum(cmd.payload_checksum());
  image->set_computed_tarsum(cmd.computed_tarsum());
  image->set_state(LAYER_UPLOADED);
  writer->PutImage(*image);
  return Ok();
}

CommandResult ApplyConfirmChecksum(const ConfirmChecksum& cmd,
                                   const StateView& state,
                                   StateWriter* writer) {
  std::optional<ImageRecord> image = state.GetImage(cmd.id());
  if (!image) return Fail(IMAGE_NOT_FOUND, "Image not found");
  if (image->state() == COMPLETE) {
    return Fail(IMAGE_ALREADY_EXISTS, "Cannot set this image checksum");
  }
  if (image->state() != LAYER_UPLOADED) {
    return Fail(NO_LAYER, "Checksum mismatch");
  }
  if (image->payload_checksum() != cmd.payload_checksum()) {
    return Fail(CHECKSUM_MISMATCH, "Checksum mismatch");
  }
  // The client TarSum is informational (spec §2.6.5): kept when it looks
  // like one, never a reason to fail.
  if (absl::StartsWith(cmd.client_tarsum(), "tarsum")) {
    image->set_client_tarsum(cmd.client_tarsum());
  }
  image->set_state(COMPLETE);
  writer->PutImage(*image);
  return Ok();
}

CommandResult ApplyPutTag(const PutTag& cmd, const StateView& state,
                          StateWriter* writer) {
  std::optional<ImageRecord> image = state.GetImage(cmd.image_id());
  if (!image) return Fail(IMAGE_NOT_FOUND, "Image not found");
  TagRecord tag;
  tag.set_image_id(cmd.image_id());
  tag.set_metadata(cmd.tag_metadata());
  writer->PutTag(cmd.repository(), cmd.tag(), tag);
  // The tagged image and its ancestry join the image list (spec §2.5.3),
  // base images first as docker lists them.
  google::protobuf::RepeatedPtrField<ImageListEntry> entries;
  for (int i = image->ancestry_size() - 1; i >= 0; --i) {
    entries.Add()->set_id(image->ancestry(i));
  }
  RepositoryRecord repo = RepositoryOrNew(state, cmd.repository());
  MergeImageList(entries, &repo);
  writer->PutRepository(repo);
  return Ok();
}

}  // namespace

bool MergeImageList(
    const google::protobuf::RepeatedPtrField<ImageListEntry>& entries,
    RepositoryRecord* list) {
  bool changed = false;
  for (const ImageListEntry& e : entries) {
    ImageListEntry* found = nullptr;
    for (auto& have : *list->mutable_images()) {
      if (have.id() == e.id()) {
        found = &have;
        break;
      }
    }
    if (!found) {
      *list->add_images() = e;
      changed = true;
    } else if (found->checksum().empty() && !e.checksum().empty()) {
      found->set_checksum(e.checksum());
      changed = true;
    }
  }
  return changed;
}

CommandResult Apply(const Command& command, const StateView& state,
                    StateWriter* writer) {
  switch (command.op_case()) {
    case Command::kCreateRepository:
      return ApplyMergeImageList(command.create_repository().name(),
                                 command.create_repository().images(), state,
                                 writer);
    case Command::kMergeImageList:
      return ApplyMergeImageList(command.merge_image_list().name(),
                                 command.merge_image_list().images(), state,
                                 writer);
    case Command::kPutImageJson:
      return ApplyPutImageJson(command.put_image_json(), state, writer);
    case Command::kCommitLayer:
      return ApplyCommitLayer(command.commit_layer(), state, writer);
    case Command::kConfirmChecksum:
      return ApplyConfirmChecksum(command.confirm_checksum(), state, writer);
    case Command::kPutTag:
      return ApplyPutTag(command.put_tag(), state, writer);
    case Command::OP_NOT_SET:
      break;
  }
  return Fail(INVALID_ARGUMENT, "unknown command");
}

}  // namespace berth::meta
