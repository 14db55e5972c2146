#include "metadata/mem_state_testutil.h"
#include "metadata/state_machine.h"

#include <map>

#include "gtest/gtest.h"

namespace berth::meta {
namespace {

using testutil::ApplyTo;
using testutil::MemState;
using testutil::RunCommand;

const std::string kBase(64, 'a');
const std::string kChild(64, 'b');


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
  c.mutable_commit_layer()->set_json_sha256(s.GetImage(id).value().json_sha256());
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
  EXPECT_EQ(s.GetImage(kBase).value().state(), JSON_UPLOADED);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), NO_LAYER);
  EXPECT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetImage(kBase).value().state(), LAYER_UPLOADED);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:2")), CHECKSUM_MISMATCH);
  EXPECT_EQ(s.GetImage(kBase).value().state(), LAYER_UPLOADED);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetImage(kBase).value().state(), COMPLETE);
  EXPECT_EQ(s.GetImage(kBase).value().client_tarsum(), "tarsum+sha256:x");
  // A complete image is locked.
  EXPECT_EQ(ApplyTo(s, PutJson(kBase, "")), IMAGE_ALREADY_EXISTS);
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), IMAGE_ALREADY_EXISTS);
  EXPECT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), IMAGE_ALREADY_EXISTS);
}

TEST(StateMachineTest, ParentMustExistAndAncestryFollowsIt) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, PutJson(kChild, kBase)), PARENT_NOT_FOUND);
  EXPECT_EQ(s.Count(Table::kImages), 0u);
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kChild, kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(s.GetImage(kChild).value().ancestry_size(), 2);
  EXPECT_EQ(s.GetImage(kChild).value().ancestry(0), kChild);
  EXPECT_EQ(s.GetImage(kChild).value().ancestry(1), kBase);
}

TEST(StateMachineTest, JsonReplacedDuringUploadRejectsTheLayer) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  Command stale = Commit(s, kBase, "sha256:1");
  Command other = PutJson(kBase, "");
  other.mutable_put_image_json()->set_json("{\"id\":\"" + kBase + "\",\"x\":1}");
  ASSERT_EQ(ApplyTo(s, other), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, stale), JSON_CHANGED);
  EXPECT_EQ(s.GetImage(kBase).value().state(), JSON_UPLOADED);
}

TEST(StateMachineTest, PutJsonDiscardsAnEarlierLayer) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetImage(kBase).value().state(), JSON_UPLOADED);
  EXPECT_EQ(s.GetImage(kBase).value().payload_checksum(), "");
  EXPECT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), NO_LAYER);
}

TEST(StateMachineTest, TagAddsImageAndAncestryToTheList) {
  MemState s;
  Command tag;
  tag.mutable_put_tag()->set_repository("foo/bar");
  tag.mutable_put_tag()->set_tag("latest");
  tag.mutable_put_tag()->set_image_id(kChild);
  EXPECT_EQ(ApplyTo(s, tag), IMAGE_NOT_FOUND);
  EXPECT_EQ(s.Count(Table::kRepositories), 0u);
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kChild, kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, tag), REASON_UNSPECIFIED);
  const RepositoryRecord repo = s.GetRepository("foo/bar").value();
  ASSERT_EQ(repo.images_size(), 2);
  EXPECT_EQ(repo.images(0).id(), kBase);
  EXPECT_EQ(repo.images(1).id(), kChild);
  EXPECT_EQ(s.GetTag("foo/bar", "latest").value().image_id(), kChild);
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
  const RepositoryRecord repo = s.GetRepository("foo/bar").value();
  ASSERT_EQ(repo.images_size(), 2);
  EXPECT_EQ(repo.images(0).checksum(), "tarsum+sha256:1");
  EXPECT_EQ(repo.images(1).checksum(), "");
}

Command Tag(const std::string& repo, const std::string& tag,
            const std::string& id, const std::string& meta = "{}") {
  Command c;
  c.mutable_put_tag()->set_repository(repo);
  c.mutable_put_tag()->set_tag(tag);
  c.mutable_put_tag()->set_image_id(id);
  c.mutable_put_tag()->set_tag_metadata(meta);
  return c;
}

TEST(StateMachineTest, JsonAboveOneMebibyteIsRefused) {
  MemState s;
  Command c = PutJson(kBase, "");
  c.mutable_put_image_json()->set_json(std::string(kMaxImageJsonBytes + 1, ' '));
  EXPECT_EQ(ApplyTo(s, c), TOO_LARGE);
  c.mutable_put_image_json()->set_json(std::string(kMaxImageJsonBytes, ' '));
  EXPECT_EQ(ApplyTo(s, c), REASON_UNSPECIFIED);
  Command empty = PutJson("", "");
  EXPECT_EQ(ApplyTo(s, empty), INVALID_ARGUMENT);
}

TEST(StateMachineTest, DeleteTagAndLatestMetadata) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Tag("foo/bar", "latest", kBase, "{\"os\":\"linux\"}")),
            REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetRepository("foo/bar")->metadata(), "{\"os\":\"linux\"}");
  Command del;
  del.mutable_delete_tag()->set_repository("foo/bar");
  del.mutable_delete_tag()->set_tag("v1");
  EXPECT_EQ(ApplyTo(s, del), TAG_NOT_FOUND);
  del.mutable_delete_tag()->set_tag("latest");
  EXPECT_EQ(ApplyTo(s, del), REASON_UNSPECIFIED);
  EXPECT_FALSE(s.GetTag("foo/bar", "latest"));
  EXPECT_EQ(s.GetRepository("foo/bar")->metadata(), "");
  EXPECT_EQ(ApplyTo(s, del), TAG_NOT_FOUND);
}

TEST(StateMachineTest, DeleteRepositoryRemovesTagsListAndFlags) {
  MemState s;
  Command del;
  del.mutable_delete_repository()->set_name("foo/bar");
  EXPECT_EQ(ApplyTo(s, del), REPOSITORY_NOT_FOUND);
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Tag("foo/bar", "a", kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Tag("foo/bar", "b", kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Tag("foo/barn", "c", kBase)), REASON_UNSPECIFIED);
  Command props;
  props.mutable_set_repository_properties()->set_name("foo/bar");
  props.mutable_set_repository_properties()->set_has_private(true);
  props.mutable_set_repository_properties()->set_is_private(true);
  ASSERT_EQ(ApplyTo(s, props), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, del), REASON_UNSPECIFIED);
  EXPECT_FALSE(s.GetRepository("foo/bar"));
  EXPECT_FALSE(s.GetTag("foo/bar", "a"));
  EXPECT_FALSE(s.GetTag("foo/bar", "b"));
  EXPECT_TRUE(s.GetTag("foo/barn", "c"));  // a longer name is another repo
  EXPECT_TRUE(s.GetImage(kBase));           // images stay
  EXPECT_EQ(ApplyTo(s, del), REPOSITORY_NOT_FOUND);
}

TEST(StateMachineTest, RepositoryProperties) {
  MemState s;
  Command c;
  auto* p = c.mutable_set_repository_properties();
  p->set_name("alice/app");
  p->set_has_description(true);
  p->set_description("An App");
  EXPECT_EQ(ApplyTo(s, c), REPOSITORY_NOT_FOUND);
  p->set_create(true);
  p->set_has_owner(true);
  p->set_owner("alice");
  EXPECT_EQ(ApplyTo(s, c), REASON_UNSPECIFIED);
  auto repo = s.GetRepository("alice/app").value();
  EXPECT_EQ(repo.description(), "An App");
  EXPECT_EQ(repo.owner(), "alice");
  EXPECT_FALSE(repo.is_private());
  Command priv;
  priv.mutable_set_repository_properties()->set_name("alice/app");
  priv.mutable_set_repository_properties()->set_has_private(true);
  priv.mutable_set_repository_properties()->set_is_private(true);
  EXPECT_EQ(ApplyTo(s, priv), REASON_UNSPECIFIED);
  repo = s.GetRepository("alice/app").value();
  EXPECT_TRUE(repo.is_private());
  EXPECT_EQ(repo.description(), "An App");  // untouched
  p->set_name("");
  EXPECT_EQ(ApplyTo(s, c), INVALID_ARGUMENT);
}

Command NewUser(const std::string& name, const std::string& email) {
  Command c;
  c.mutable_create_user()->set_username(name);
  c.mutable_create_user()->set_email(email);
  c.mutable_create_user()->set_password_hash("scrypt$hash");
  c.mutable_create_user()->set_active(true);
  c.mutable_create_user()->set_now_unix(42);
  return c;
}

TEST(StateMachineTest, UsersAreUniqueByNameAndEmail) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, NewUser("", "a@x")), INVALID_ARGUMENT);
  Command nohash = NewUser("alice", "a@x");
  nohash.mutable_create_user()->clear_password_hash();
  EXPECT_EQ(ApplyTo(s, nohash), INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, NewUser("alice", "Alice@X")), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, NewUser("alice", "other@x")), USER_ALREADY_EXISTS);
  EXPECT_EQ(ApplyTo(s, NewUser("bob", "alice@x")), USER_ALREADY_EXISTS);
  EXPECT_EQ(ApplyTo(s, NewUser("bob", "bob@x")), REASON_UNSPECIFIED);
  auto alice = s.GetUser("alice").value();
  EXPECT_EQ(alice.created_unix(), 42);
  EXPECT_TRUE(alice.active());
  EXPECT_FALSE(alice.admin());

  Command up;
  up.mutable_update_user()->set_username("carol");
  EXPECT_EQ(ApplyTo(s, up), USER_NOT_FOUND);
  up.mutable_update_user()->set_username("alice");
  up.mutable_update_user()->set_add_email("BOB@x");
  EXPECT_EQ(ApplyTo(s, up), USER_ALREADY_EXISTS);
  up.mutable_update_user()->set_add_email("a2@x");
  up.mutable_update_user()->set_password_hash("scrypt$new");
  up.mutable_update_user()->set_has_admin(true);
  up.mutable_update_user()->set_admin(true);
  up.mutable_update_user()->set_has_active(true);
  up.mutable_update_user()->set_active(false);
  EXPECT_EQ(ApplyTo(s, up), REASON_UNSPECIFIED);
  alice = s.GetUser("alice").value();
  ASSERT_EQ(alice.emails_size(), 2);
  EXPECT_EQ(alice.emails(1), "a2@x");
  EXPECT_EQ(alice.password_hash(), "scrypt$new");
  EXPECT_TRUE(alice.admin());
  EXPECT_FALSE(alice.active());
}

TEST(StateMachineTest, DeleteUserFreesNameAndEmails) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, NewUser("alice", "Alice@X")), REASON_UNSPECIFIED);
  Command add_email;
  add_email.mutable_update_user()->set_username("alice");
  add_email.mutable_update_user()->set_add_email("a2@x");
  ASSERT_EQ(ApplyTo(s, add_email), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, NewUser("bob", "bob@x")), REASON_UNSPECIFIED);
  Command del;
  del.mutable_delete_user()->set_username("carol");
  EXPECT_EQ(ApplyTo(s, del), USER_NOT_FOUND);
  del.mutable_delete_user()->set_username("alice");
  EXPECT_EQ(ApplyTo(s, del), REASON_UNSPECIFIED);
  EXPECT_FALSE(s.GetUser("alice").has_value());
  EXPECT_TRUE(s.GetUser("bob").has_value());
  EXPECT_EQ(ApplyTo(s, del), USER_NOT_FOUND);
  // Both emails are free again; bob's is still taken.
  EXPECT_EQ(ApplyTo(s, NewUser("alice2", "alice@x")), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, NewUser("alice3", "A2@X")), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, NewUser("alice4", "bob@x")), USER_ALREADY_EXISTS);
}

TEST(StateMachineTest, TokenSecretIsSetOnceAndRotatesKeepingOne) {
  MemState s;
  Command init;
  init.mutable_init_token_secret()->set_secret("short");
  EXPECT_EQ(ApplyTo(s, init), INVALID_ARGUMENT);
  init.mutable_init_token_secret()->set_secret(std::string(32, 'a'));
  EXPECT_EQ(ApplyTo(s, init), REASON_UNSPECIFIED);
  init.mutable_init_token_secret()->set_secret(std::string(32, 'b'));
  EXPECT_EQ(ApplyTo(s, init), REASON_UNSPECIFIED);  // first one stands
  ASSERT_EQ(s.GetConfig().token_secrets_size(), 1);
  EXPECT_EQ(s.GetConfig().token_secrets(0), std::string(32, 'a'));
  Command rot;
  rot.mutable_rotate_token_secret()->set_secret("x");
  EXPECT_EQ(ApplyTo(s, rot), INVALID_ARGUMENT);
  for (char c : {'c', 'd'}) {
    rot.mutable_rotate_token_secret()->set_secret(std::string(32, c));
    EXPECT_EQ(ApplyTo(s, rot), REASON_UNSPECIFIED);
  }
  ClusterConfig config = s.GetConfig();
  ASSERT_EQ(config.token_secrets_size(), 2);
  EXPECT_EQ(config.token_secrets(0), std::string(32, 'd'));
  EXPECT_EQ(config.token_secrets(1), std::string(32, 'c'));
}

TEST(StateMachineTest, ShardMap) {
  MemState s;
  Command put;
  put.mutable_put_shard()->mutable_shard()->set_id("s2");
  EXPECT_EQ(ApplyTo(s, put), INVALID_ARGUMENT);  // no address
  put.mutable_put_shard()->mutable_shard()->set_address("h:2");
  put.mutable_put_shard()->mutable_shard()->set_zone("z2");
  put.mutable_put_shard()->mutable_shard()->set_state(SHARD_ACTIVE);
  EXPECT_EQ(ApplyTo(s, put), REASON_UNSPECIFIED);
  put.mutable_put_shard()->mutable_shard()->set_id("s1");
  EXPECT_EQ(ApplyTo(s, put), REASON_UNSPECIFIED);
  put.mutable_put_shard()->mutable_shard()->set_state(SHARD_DRAINING);
  EXPECT_EQ(ApplyTo(s, put), REASON_UNSPECIFIED);
  ClusterConfig config = s.GetConfig();
  ASSERT_EQ(config.shards_size(), 2);
  EXPECT_EQ(config.shards(0).id(), "s1");
  EXPECT_EQ(config.shards(0).state(), SHARD_DRAINING);
  EXPECT_EQ(config.shards(1).zone(), "z2");
  EXPECT_EQ(config.shard_map_version(), 3u);
  Command rm;
  rm.mutable_remove_shard()->set_id("s9");
  EXPECT_EQ(ApplyTo(s, rm), SHARD_NOT_FOUND);
  rm.mutable_remove_shard()->set_id("s1");
  EXPECT_EQ(ApplyTo(s, rm), REASON_UNSPECIFIED);
  EXPECT_EQ(s.GetConfig().shards_size(), 1);
}

TEST(StateMachineTest, ChunkRefsFollowThePublishedLayer) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  Command commit = Commit(s, kBase, "sha256:1");
  commit.mutable_commit_layer()->mutable_layer()->add_chunks()->set_digest("d1");
  commit.mutable_commit_layer()->mutable_layer()->add_chunks()->set_digest("d2");
  ASSERT_EQ(ApplyTo(s, commit), REASON_UNSPECIFIED);
  EXPECT_TRUE(s.Get(Table::kChunkRefs, ChunkRefKey("d1", kBase)));
  EXPECT_TRUE(s.Get(Table::kChunkRefs, ChunkRefKey("d2", kBase)));
  // A new layer replaces the references.
  commit.mutable_commit_layer()->mutable_layer()->clear_chunks();
  commit.mutable_commit_layer()->mutable_layer()->add_chunks()->set_digest("d3");
  ASSERT_EQ(ApplyTo(s, commit), REASON_UNSPECIFIED);
  EXPECT_EQ(s.Count(Table::kChunkRefs), 1u);
  // A new json discards the layer and its references (spec §4.2).
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  EXPECT_EQ(s.Count(Table::kChunkRefs), 0u);
}

Command PutEncrypted(const std::string& id, const std::string& parent,
                     const std::string& sign) {
  Command c = PutJson(id, parent);
  c.mutable_put_image_json()->set_encrypted(true);
  c.mutable_put_image_json()->set_encryption_scheme("aes-256-gcm-chunked-v1");
  c.mutable_put_image_json()->set_encryption_sign(sign);
  return c;
}

TEST(StateMachineTest, EncryptedImagesKeepTheirParentsSign) {
  MemState s;
  const std::string kOther(64, 'c'), kPlain(64, 'd');
  ASSERT_EQ(ApplyTo(s, PutEncrypted(kBase, "", "sign-1")), REASON_UNSPECIFIED);
  ImageRecord base = s.GetImage(kBase).value();
  EXPECT_TRUE(base.encrypted());
  EXPECT_EQ(base.encryption_scheme(), "aes-256-gcm-chunked-v1");
  EXPECT_EQ(base.encryption_sign(), "sign-1");
  // Byte comparison: a different sign under an encrypted parent fails.
  EXPECT_EQ(ApplyTo(s, PutEncrypted(kChild, kBase, "sign-2")), SIGN_MISMATCH);
  EXPECT_EQ(ApplyTo(s, PutEncrypted(kChild, kBase, "SIGN-1")), SIGN_MISMATCH);
  EXPECT_FALSE(s.GetImage(kChild));
  EXPECT_EQ(ApplyTo(s, PutEncrypted(kChild, kBase, "sign-1")), REASON_UNSPECIFIED);
  // Only when the new image is encrypted: a plain child is fine (§6.4 r2).
  EXPECT_EQ(ApplyTo(s, PutJson(kPlain, kBase)), REASON_UNSPECIFIED);
  EXPECT_FALSE(s.GetImage(kPlain)->encrypted());
  // A plain parent imposes no sign.
  EXPECT_EQ(ApplyTo(s, PutEncrypted(kOther, kPlain, "sign-9")), REASON_UNSPECIFIED);
  // A retry of the json replaces the fields...
  ASSERT_EQ(ApplyTo(s, PutJson(kOther, kPlain)), REASON_UNSPECIFIED);
  EXPECT_FALSE(s.GetImage(kOther)->encrypted());
  EXPECT_EQ(s.GetImage(kOther)->encryption_sign(), "");
  // ...until the image is complete: then they are immutable.
  ASSERT_EQ(ApplyTo(s, Commit(s, kBase, "sha256:1")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Confirm(kBase, "sha256:1")), REASON_UNSPECIFIED);
  EXPECT_EQ(ApplyTo(s, PutEncrypted(kBase, "", "sign-3")), IMAGE_ALREADY_EXISTS);
  EXPECT_EQ(s.GetImage(kBase)->encryption_sign(), "sign-1");
}

TEST(StateMachineTest, ImageRepositoryIndexFollowsImageLists) {
  MemState s;
  ASSERT_EQ(ApplyTo(s, PutJson(kBase, "")), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, PutJson(kChild, kBase)), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, Tag("foo/bar", "latest", kChild)), REASON_UNSPECIFIED);
  EXPECT_TRUE(s.Get(Table::kImageRepos, ImageRepoKey(kBase, "foo/bar")));
  EXPECT_TRUE(s.Get(Table::kImageRepos, ImageRepoKey(kChild, "foo/bar")));
  Command merge;
  merge.mutable_merge_image_list()->set_name("foo/other");
  merge.mutable_merge_image_list()->add_images()->set_id(kBase);
  ASSERT_EQ(ApplyTo(s, merge), REASON_UNSPECIFIED);
  ASSERT_EQ(ApplyTo(s, merge), REASON_UNSPECIFIED);  // no change
  EXPECT_EQ(s.Scan(Table::kImageRepos, ImageRepoKey(kBase, "")).size(), 2u);
  Command del;
  del.mutable_delete_repository()->set_name("foo/bar");
  ASSERT_EQ(ApplyTo(s, del), REASON_UNSPECIFIED);
  EXPECT_EQ(s.Count(Table::kImageRepos), 1u);
  EXPECT_TRUE(s.Get(Table::kImageRepos, ImageRepoKey(kBase, "foo/other")));
  // A fresh list after the delete indexes again.
  ASSERT_EQ(ApplyTo(s, Tag("foo/bar", "v1", kBase)), REASON_UNSPECIFIED);
  EXPECT_TRUE(s.Get(Table::kImageRepos, ImageRepoKey(kBase, "foo/bar")));
  EXPECT_FALSE(s.Get(Table::kImageRepos, ImageRepoKey(kChild, "foo/bar")));
}

TEST(StateMachineTest, UnknownCommandIsRefused) {
  MemState s;
  EXPECT_EQ(ApplyTo(s, Command()), INVALID_ARGUMENT);
  Command nested;
  *nested.mutable_batch()->add_commands() = PutJson(kBase, "");
  EXPECT_EQ(ApplyTo(s, nested), INVALID_ARGUMENT);
  EXPECT_EQ(ApplyTo(s, Tag("", "t", kBase)), INVALID_ARGUMENT);
}

}  // namespace
}  // namespace berth::meta
