#include "metadata/state_machine.h"

#include <map>

#include "gtest/gtest.h"

namespace berth::meta {
namespace {

// In-memory state: each Apply writes into a staging copy that the test
// commits only on success, like the replica's WriteBatch.
class MemState final : public StateView, public StateWriter {
 public:
  std::optional<ImageRecord> GetImage(const std::string& id) const override {
    auto it = images.find(id);
    if (it == images.end()) return std::nullopt;
    return it->second;
  }
  std::optional<RepositoryRecord> GetRepository(
      const std::string& name) const override {
    auto it = repos.find(name);
    if (it == repos.end()) return std::nullopt;
    return it->second;
  }
  std::optional<TagRecord> GetTag(const std::string& repository,
                                  const std::string& tag) const override {
    auto it = tags.find(repository + "\n" + tag);
    if (it == tags.end()) return std::nullopt;
    return it->second;
  }
  void PutImage(const ImageRecord& image) override { images[image.id()] = image; }
  void PutRepository(const RepositoryRecord& r) override { repos[r.name()] = r; }
  void PutTag(const std::string& repository, const std::string& tag,
              const TagRecord& record) override {
    tags[repository + "\n" + tag] = record;
  }
  std::map<std::string, ImageRecord> images;
  std::map<std::string, RepositoryRecord> repos;
  std::map<std::string, TagRecord> tags;
  int writes = 0;
};

const std::string kBase(64, 'a');
const std::string kChild(64, 'b');

Reason ApplyTo(MemState& s, const Command& c) {
  return Apply(c, s, &s).error().reason();
}

Command PutJson(const std::string& id, const std::string& parent) {
  Command c;
  c.mutable_put_image_json()->set_id(id);
  c.mutable_put_image_json()->set_json("{\"id\":\"" + id + "\"}");
  c.mutable_put_image_json()->set_parent(parent);
  return c;
}

Command Commit(const MemState& s, const std::string& id,
               const std::string& checksum) {
  Command c;
  c.mutable_commit_layer()->set_id(id);
  c.mutable_commit_layer()->set_json_sha256(s.images.at(id).json_sha256());
  c.mutable_commit_layer()->set_payload_checksum(checksum);
  c.mutable_commit_layer()->mutable_layer()->set_total_size(3);
  return c;
}

Command Confirm(const std::string& id, const std::string& checksum) {
  Command c;
  c.mutable_confirm_checksum()->set_id(id);
  c.mutable_confirm_checksum()->set_payload_checksum(checksum);
  c.mutable_confirm_checksum()->set_client_tarsum("tarsum+sha256:x");
  return c;
}

TEST(StateMachineTest, FullImageLifecycle) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.images[kBase].state(), JSON_UPLOADED);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), NO_LAYER);
  EXPECT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.images[kBase].state(), LAYER_UPLOADED);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:2")), CHECKSUM_MISMATCH);
  EXPECT_EQ(s.images[kBase].state(), LAYER_UPLOADED);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.images[kBase].state(), COMPLETE);
  EXPECT_EQ(s.images[kBase].client_tarsum(), "tarsum+sha256:x");
  // A complete image is locked.
  EXPECT_EQ(ApplyTo(s, PutJson(kBase, "")), IMAGE_ALREADY_EXISTS);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), IMAGE_ALREADY_EXISTS);
  EXPECT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), IMAGE_ALREADY_EXISTS);
}

TEST(StateMachineTest, ParentMustExistAndAncestryFollowsIt) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, PutJson(kChild, kBase)), PARENT_NOT_FOUND);
  EXPECT_TRUE(s.images.empty());
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kChild, kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(s.images[kChild].ancestry_size(), 2);
  EXPECT_EQ(s.images[kChild].ancestry(0), kChild);
  EXPECT_EQ(s.images[kChild].ancestry(1), kBase);
}

TEST(StateMachineTest, JsonReplacedDuringUploadRejectsTheLayer) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  Command stale = Commit(s, kBase, "sha256:1");
  Command other = PutJson(kBase, "");
  other.mutable_put_image_json()->set_json("{\"id\":\"" + kBase + "\",\"x\":1}");
  ASSERT_EQ(ApplyTo(s, other), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, stale), JSON_CHANGED);
  EXPECT_EQ(s.images[kBase].state(), JSON_UPLOADED);
}

TEST(StateMachineTest, PutJsonDiscardsAnEarlierLayer) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.images[kBase].state(), JSON_UPLOADED);
  EXPECT_EQ(s.images[kBase].payload_checksum(), "");
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), NO_LAYER);
}

TEST(StateMachineTest, TagAddsImageAndAncestryToTheList) {
  MemState s;
  Command tag;
  tag.mutable_put_tag()->set_repository("foo/bar");
  tag.mutable_put_tag()->set_tag("latest");
  tag.mutable_put_tag()->set_image_id(kChild);
  EXPECT_EQ(ApplyTo(s, tag), IMAGE_NOT_FOUND);
  EXPECT_TRUE(s.repos.empty());
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kChild, kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, tag), REASON_UNSPECIFIED);
  const RepositoryRecord& repo = s.repos["foo/bar"];
  ASSERT_EQ(repo.images_size(), 2);
  EXPECT_EQ(repo.images(0).id(), kBase);
  EXPECT_EQ(repo.images(1).id(), kChild);
  EXPECT_EQ(s.tags["foo/bar\nlatest"].image_id(), kChild);
}

TEST(StateMachineTest, ImageListMergeNeverReplacesAChecksum) {
  MemState s;
  Command c;
  c.mutable_create_repository()->set_name("foo/bar");
  auto* e = c.mutable_create_repository()->add_images();
  e->set_id(kBase);
  c.mutable_create_repository()->add_images()->set_id(kChild);
  ASSERT_EQ(ApplyTo(s, c), REASON_UNSPECIFIED);
  Command m;
  m.mutable_merge_image_list()->set_name("foo/bar");
  auto* a = m.mutable_merge_image_list()->add_images();
  a->set_id(kBase);
  a->set_checksum("tarsum+sha256:1");
  ASSERT_EQ(ApplyTo(s, m), REASON_UNSPECIFIED);
  a->set_checksum("tarsum+sha256:2");
  ASSERT_EQ(ApplyTo(s, m), REASON_UNSPECIFIED);
  const RepositoryRecord& repo = s.repos["foo/bar"];
  ASSERT_EQ(repo.images_size(), 2);
  EXPECT_EQ(repo.images(0).checksum(), "tarsum+sha256:1");
  EXPECT_EQ(repo.images(1).checksum(), "");
}

}  // namespace
}  // namespace berth::meta
