// Images, repositories and tags. Accounts and cluster config:
// state_machine_accounts.cc.
#include "metadata/state_machine.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace berth::meta {

using internal::Fail;

std::string TagKey(const std::string& repository, const std::string& tag) {
  return absl::StrCat(repository, std::string(1, '\0'), tag);
}

std::string ChunkRefKey(const std::string& digest, const std::string& image) {
  return absl::StrCat(digest, std::string(1, '\0'), image);
}

std::string ImageRepoKey(const std::string& image, const std::string& repository) {
  return absl::StrCat(image, std::string(1, '\0'), repository);
}

std::string ImageChildKey(const std::string& parent, const std::string& child) {
  return absl::StrCat(parent, std::string(1, '\0'), child);
}

namespace {

template <class Message>
std::optional<Message> Parse(const std::optional<std::string>& bytes) {
  if (!bytes) return std::nullopt;
  Message m;
  if (!m.ParseFromString(*bytes)) return std::nullopt;
  return m;
}

}  // namespace

std::optional<ImageRecord> StateView::GetImage(const std::string& id) const {
  return Parse<ImageRecord>(Get(Table::kImages, id));
}
std::optional<RepositoryRecord> StateView::GetRepository(
    const std::string& name) const {
  return Parse<RepositoryRecord>(Get(Table::kRepositories, name));
}
std::optional<TagRecord> StateView::GetTag(const std::string& repository,
                                           const std::string& tag) const {
  return Parse<TagRecord>(Get(Table::kTags, TagKey(repository, tag)));
}
std::optional<UserRecord> StateView::GetUser(
    const std::string& username) const {
  return Parse<UserRecord>(Get(Table::kUsers, username));
}
ClusterConfig StateView::GetConfig() const {
  return Parse<ClusterConfig>(Get(Table::kConfig, kConfigKey))
      .value_or(ClusterConfig());
}

void StateWriter::PutImage(const ImageRecord& image) {
  Put(Table::kImages, image.id(), image.SerializeAsString());
}
void StateWriter::PutRepository(const RepositoryRecord& repository) {
  Put(Table::kRepositories, repository.name(), repository.SerializeAsString());
}
void StateWriter::PutTag(const std::string& repository, const std::string& tag,
                         const TagRecord& record) {
  Put(Table::kTags, TagKey(repository, tag), record.SerializeAsString());
}
void StateWriter::PutUser(const UserRecord& user) {
  Put(Table::kUsers, user.username(), user.SerializeAsString());
}
void StateWriter::PutConfig(const ClusterConfig& config) {
  Put(Table::kConfig, kConfigKey, config.SerializeAsString());
}

namespace internal {
CommandResult Fail(Reason reason, std::string message) {
  CommandResult r;
  r.mutable_error()->set_reason(reason);
  r.mutable_error()->set_message(std::move(message));
  return r;
}
}  // namespace internal

namespace {

CommandResult Ok() { return CommandResult(); }

// Writes `repo` and adds the image -> repository index entries of ids
// that `before` (the stored record, if any) did not list yet. Image lists
// only grow; DeleteRepository drops the whole list and its entries.
void PutRepositoryIndexed(const std::optional<RepositoryRecord>& before,
                          const RepositoryRecord& repo, StateWriter* writer) {
  const int had = before ? before->images_size() : 0;
  // MergeImageList appends new ids after the existing ones, in order.
  for (int i = had; i < repo.images_size(); ++i) {
    writer->Put(Table::kImageRepos, ImageRepoKey(repo.images(i).id(), repo.name()),
                "");
  }
  writer->PutRepository(repo);
}

RepositoryRecord RepositoryOrNew(const StateView& state,
                                 const std::string& name) {
  std::optional<RepositoryRecord> repo = state.GetRepository(name);
  if (repo) return *repo;
  RepositoryRecord fresh;
  fresh.set_name(name);
  return fresh;
}

// Chunk references of `image`'s layer (GC): added when a layer is
// published, removed when it is replaced or discarded.
void DropChunkRefs(const ImageRecord& image, StateWriter* writer) {
  for (const auto& chunk : image.layer().chunks()) {
    writer->Delete(Table::kChunkRefs, ChunkRefKey(chunk.digest(), image.id()));
  }
}

CommandResult ApplyMergeImageList(const std::string& name,
                                  const google::protobuf::RepeatedPtrField<
                                      ImageListEntry>& images,
                                  const StateView& state, StateWriter* writer) {
  if (name.empty()) return Fail(INVALID_ARGUMENT, "empty repository name");
  std::optional<RepositoryRecord> before = state.GetRepository(name);
  RepositoryRecord repo = before ? *before : RepositoryOrNew(state, name);
  if (MergeImageList(images, &repo) || !before) {
    PutRepositoryIndexed(before, repo, writer);
  }
  return Ok();
}

CommandResult ApplyPutImageJson(const PutImageJson& cmd, const StateView& state,
                                StateWriter* writer) {
  if (cmd.id().empty()) return Fail(INVALID_ARGUMENT, "empty image id");
  if (cmd.json().size() > kMaxImageJsonBytes) {
    return Fail(TOO_LARGE, "JSON too large");
  }
  ImageRecord image;
  image.set_id(cmd.id());
  image.set_json(cmd.json());
  image.set_json_sha256(Sha256Hex(cmd.json()));
  image.set_parent(cmd.parent());
  image.add_ancestry(cmd.id());
  bool parent_encrypted = false;
  std::string parent_sign;
  if (!cmd.parent().empty()) {
    std::optional<ImageRecord> parent = state.GetImage(cmd.parent());
    if (!parent) {
      return Fail(PARENT_NOT_FOUND, "Image depends on a non existing parent");
    }
    for (const auto& id : parent->ancestry()) image.add_ancestry(id);
    parent_encrypted = parent->encrypted();
    parent_sign = parent->encryption_sign();
  }
  std::optional<ImageRecord> existing = state.GetImage(cmd.id());
  if (existing && existing->state() == COMPLETE) {
    return Fail(IMAGE_ALREADY_EXISTS, "Image already exists");
  }
  // Spec §6.4 rule 1, last row: an encrypted image under an encrypted
  // parent must carry the parent's sign, byte for byte. A plain image may
  // have an encrypted parent (rule 2).
  if (cmd.encrypted() && parent_encrypted && parent_sign != cmd.encryption_sign()) {
    return Fail(SIGN_MISMATCH, "X-Docker-Sign does not match the parent image");
  }
  if (existing) DropChunkRefs(*existing, writer);  // layer discarded (§4.2)
  // The parent -> child index (gc keeps an image some image builds on).
  if (existing && !existing->parent().empty() &&
      existing->parent() != cmd.parent()) {
    writer->Delete(Table::kImageChildren,
                   ImageChildKey(existing->parent(), cmd.id()));
  }
  if (!cmd.parent().empty()) {
    writer->Put(Table::kImageChildren, ImageChildKey(cmd.parent(), cmd.id()),
                "");
  }
  image.set_touched_unix(cmd.now_unix());
  if (cmd.encrypted()) {
    image.set_encrypted(true);
    image.set_encryption_scheme(cmd.encryption_scheme());
    image.set_encryption_sign(cmd.encryption_sign());
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
  // Last check: it stages the intent's removal.
  if (auto expired = internal::ConsumeUploadIntent(cmd.upload_intent_id(),
                                                   state, writer)) {
    return *expired;
  }
  DropChunkRefs(*image, writer);
  for (const auto& chunk : cmd.layer().chunks()) {
    writer->Put(Table::kChunkRefs, ChunkRefKey(chunk.digest(), image->id()),
                "");
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
  if (cmd.repository().empty() || cmd.tag().empty()) {
    return Fail(INVALID_ARGUMENT, "empty repository or tag name");
  }
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
  std::optional<RepositoryRecord> before = state.GetRepository(cmd.repository());
  RepositoryRecord repo = before ? *before : RepositoryOrNew(state, cmd.repository());
  MergeImageList(entries, &repo);
  if (cmd.tag() == "latest") repo.set_metadata(cmd.tag_metadata());
  PutRepositoryIndexed(before, repo, writer);
  return Ok();
}

CommandResult ApplyDeleteTag(const DeleteTag& cmd, const StateView& state,
                             StateWriter* writer) {
  if (!state.GetTag(cmd.repository(), cmd.tag())) {
    return Fail(TAG_NOT_FOUND, absl::StrCat("Tag not found: ", cmd.tag()));
  }
  writer->Delete(Table::kTags, TagKey(cmd.repository(), cmd.tag()));
  if (cmd.tag() == "latest") {
    std::optional<RepositoryRecord> repo = state.GetRepository(cmd.repository());
    if (repo && !repo->metadata().empty()) {
      repo->clear_metadata();
      writer->PutRepository(*repo);
    }
  }
  return Ok();
}

CommandResult ApplyDeleteRepository(const DeleteRepository& cmd,
                                    const StateView& state,
                                    StateWriter* writer) {
  auto tags = state.Scan(Table::kTags, TagKey(cmd.name(), ""));
  std::optional<RepositoryRecord> repo = state.GetRepository(cmd.name());
  if (cmd.name().empty() || (!repo && tags.empty())) {
    return Fail(REPOSITORY_NOT_FOUND, "Repository not found");
  }
  for (const auto& [key, value] : tags) writer->Delete(Table::kTags, key);
  if (repo) {
    for (const ImageListEntry& e : repo->images()) {
      writer->Delete(Table::kImageRepos, ImageRepoKey(e.id(), cmd.name()));
    }
  }
  // The record holds the image list, private flag, description, owner and
  // repository metadata: all go with it. Images stay (spec §2.5.6).
  writer->Delete(Table::kRepositories, cmd.name());
  return Ok();
}

CommandResult ApplySetProperties(const SetRepositoryProperties& cmd,
                                 const StateView& state, StateWriter* writer) {
  if (cmd.name().empty()) return Fail(INVALID_ARGUMENT, "empty repository name");
  std::optional<RepositoryRecord> repo = state.GetRepository(cmd.name());
  if (!repo && !cmd.create()) {
    return Fail(REPOSITORY_NOT_FOUND, "Repository not found");
  }
  RepositoryRecord r = repo ? *repo : RepositoryOrNew(state, cmd.name());
  if (cmd.has_private()) r.set_is_private(cmd.is_private());
  if (cmd.has_description()) r.set_description(cmd.description());
  if (cmd.has_owner()) r.set_owner(cmd.owner());
  writer->PutRepository(r);
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
    case Command::kDeleteTag:
      return ApplyDeleteTag(command.delete_tag(), state, writer);
    case Command::kDeleteRepository:
      return ApplyDeleteRepository(command.delete_repository(), state, writer);
    case Command::kSetRepositoryProperties:
      return ApplySetProperties(command.set_repository_properties(), state,
                                writer);
    case Command::kCreateUser:
    case Command::kUpdateUser:
    case Command::kInitTokenSecret:
    case Command::kRotateTokenSecret:
    case Command::kPutShard:
    case Command::kRemoveShard:
    case Command::kDeleteUser:
      return internal::ApplyAccountCommand(command, state, writer);
    case Command::kUpdateLayerShards:
    case Command::kSetShardState:
    case Command::kSetReplication:
      return internal::ApplyShardCommand(command, state, writer);
    case Command::kBeginUpload:
    case Command::kEndUpload:
    case Command::kDeleteImages:
      return internal::ApplyGcCommand(command, state, writer);
    case Command::kBatch:
      // Batches are unpacked by the replica (ApplyLogEntry); one inside
      // a batch, or reaching Apply, is refused.
      return Fail(INVALID_ARGUMENT, "nested command batch");
    case Command::OP_NOT_SET:
      break;
  }
  return Fail(INVALID_ARGUMENT, "unknown command");
}

}  // namespace berth::meta
