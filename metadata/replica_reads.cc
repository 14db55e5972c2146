// Replica reads: each passes the read barrier (unless stale_ok) and then
// reads one RocksDB snapshot, so multi-record answers are consistent.
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "metadata/replica.h"
#include "metadata/store_view.h"

namespace berth::meta {
namespace {

template <class Response>
Response NotFound(Reason reason, const char* message) {
  Response r;
  r.mutable_error()->set_reason(reason);
  r.mutable_error()->set_message(message);
  return r;
}

// Whether a search by (username, admin) may list `repo` (spec §2.0, §7.9).
bool Visible(const RepositoryRecord& repo, const SearchRequest& request) {
  if (!repo.is_private() || request.admin()) return true;
  if (request.username().empty()) return false;
  if (repo.owner() == request.username()) return true;
  return absl::StartsWith(repo.name(), request.username() + "/");
}

}  // namespace

absl::StatusOr<GetImageResponse> Replica::GetImage(
    const GetImageRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  // One point lookup, parsed in place from RocksDB's pinned block.
  rocksdb::PinnableSlice value;
  rocksdb::Status s = store_->db()->Get(rocksdb::ReadOptions(),
                                        store_->images(), request.id(), &value);
  GetImageResponse response;
  if (s.IsNotFound() ||
      (s.ok() && !response.mutable_image()->ParseFromArray(
                     value.data(), static_cast<int>(value.size())))) {
    return NotFound<GetImageResponse>(IMAGE_NOT_FOUND, "Image not found");
  }
  if (!s.ok()) return FromRocks(s);
  if (!request.include_json()) response.mutable_image()->clear_json();
  return response;
}

absl::StatusOr<GetRepositoryResponse> Replica::GetRepository(
    const GetRepositoryRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  ScopedSnapshot snap(store_->db());
  StoreView view(*store_, snap.get());
  std::optional<RepositoryRecord> repo = view.GetRepository(request.name());
  if (!repo) {
    return NotFound<GetRepositoryResponse>(REPOSITORY_NOT_FOUND,
                                           "Repository not found");
  }
  GetRepositoryResponse response;
  *response.mutable_repository() = std::move(*repo);
  const std::string prefix = TagKey(request.name(), "");
  for (const auto& [key, value] : view.Scan(Table::kTags, prefix)) {
    TagRecord tag;
    if (!tag.ParseFromString(value)) continue;
    (*response.mutable_tags())[key.substr(prefix.size())] = tag.image_id();
  }
  return response;
}

absl::StatusOr<GetTagResponse> Replica::GetTag(const GetTagRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  std::optional<TagRecord> tag =
      StoreView(*store_).GetTag(request.repository(), request.tag());
  if (!tag) return NotFound<GetTagResponse>(TAG_NOT_FOUND, "Tag not found");
  GetTagResponse response;
  response.set_image_id(tag->image_id());
  response.set_tag_metadata(tag->metadata());
  return response;
}

absl::StatusOr<SearchResponse> Replica::Search(const SearchRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  const uint64_t n = request.n() == 0 ? 25 : std::min<uint32_t>(request.n(), 100);
  const uint64_t page = request.page() == 0 ? 1 : request.page();
  const uint64_t first = (page - 1) * n;
  const std::string query = absl::AsciiStrToLower(request.query());
  SearchResponse response;
  uint64_t total = 0;
  ScopedSnapshot snap(store_->db());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();
  // The repositories family is the index: keys are full names, so a scan
  // yields matches ordered by name.
  std::unique_ptr<rocksdb::Iterator> it(
      store_->db()->NewIterator(ro, store_->repositories()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RepositoryRecord repo;
    if (!repo.ParseFromArray(it->value().data(),
                             static_cast<int>(it->value().size()))) {
      continue;
    }
    if (!query.empty() &&
        !absl::StrContains(absl::AsciiStrToLower(repo.name()), query) &&
        !absl::StrContains(absl::AsciiStrToLower(repo.description()), query)) {
      continue;
    }
    if (!Visible(repo, request)) continue;
    if (total >= first && total < first + n) {
      SearchResult* r = response.add_results();
      r->set_name(repo.name());
      r->set_description(repo.description());
      r->set_is_private(repo.is_private());
      r->set_owner(repo.owner());
    }
    ++total;
  }
  if (!it->status().ok()) return FromRocks(it->status());
  response.set_total(total);
  return response;
}

absl::StatusOr<GetUserResponse> Replica::GetUser(
    const GetUserRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  std::optional<UserRecord> user = StoreView(*store_).GetUser(request.username());
  if (!user) return NotFound<GetUserResponse>(USER_NOT_FOUND, "User not found");
  GetUserResponse response;
  *response.mutable_user() = std::move(*user);
  return response;
}

absl::StatusOr<ListUsersResponse> Replica::ListUsers(
    const ListUsersRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  const size_t limit =
      request.limit() == 0 ? 100 : std::min<uint32_t>(request.limit(), 1000);
  ListUsersResponse response;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(
      store_->db()->NewIterator(ro, store_->table(Table::kUsers)));
  it->Seek(request.start_after());
  if (it->Valid() && it->key() == request.start_after()) it->Next();
  for (; it->Valid(); it->Next()) {
    if (static_cast<size_t>(response.users_size()) == limit) {
      response.set_more(true);
      break;
    }
    UserRecord* user = response.add_users();
    if (!user->ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size()))) {
      response.mutable_users()->RemoveLast();
      continue;
    }
    user->clear_password_hash();  // never leaves the replica in a listing
  }
  if (!it->status().ok()) return FromRocks(it->status());
  return response;
}

absl::StatusOr<GetClusterConfigResponse> Replica::GetClusterConfig(
    const GetClusterConfigRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  GetClusterConfigResponse response;
  *response.mutable_config() = StoreView(*store_).GetConfig();
  return response;
}

absl::StatusOr<ListChunkRefsResponse> Replica::ListChunkRefs(
    const ListChunkRefsRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  const uint32_t limit = request.limit() == 0 ? 1000 : request.limit();
  ListChunkRefsResponse response;
  ScopedSnapshot snap(store_->db());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.get();
  std::unique_ptr<rocksdb::Iterator> it(
      store_->db()->NewIterator(ro, store_->table(Table::kChunkRefs)));
  // Keys are digest \0 image: start after every key of `start_after`.
  if (request.start_after().empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(request.start_after() + std::string(1, '\1'));
  }
  for (; it->Valid(); it->Next()) {
    std::string key = it->key().ToString();
    size_t sep = key.find('\0');
    if (sep == std::string::npos) continue;
    std::string digest = key.substr(0, sep);
    if (response.chunks_size() == 0 ||
        response.chunks(response.chunks_size() - 1).digest() != digest) {
      if (static_cast<uint32_t>(response.chunks_size()) == limit) {
        response.set_more(true);
        break;
      }
      response.add_chunks()->set_digest(digest);
    }
    response.mutable_chunks(response.chunks_size() - 1)
        ->add_image_ids(key.substr(sep + 1));
  }
  if (!it->status().ok()) return FromRocks(it->status());
  return response;
}

}  // namespace berth::meta

namespace berth::meta {

absl::StatusOr<GetImageRepositoriesResponse> Replica::GetImageRepositories(
    const GetImageRepositoriesRequest& request) {
  if (absl::Status st = Barrier(request.read()); !st.ok()) return st;
  GetImageRepositoriesResponse response;
  if (request.id().empty()) return response;
  ScopedSnapshot snap(store_->db());
  StoreView view(*store_, snap.get());
  const std::string prefix = ImageRepoKey(request.id(), "");
  for (const auto& [key, unused] : view.Scan(Table::kImageRepos, prefix)) {
    const std::string name = key.substr(prefix.size());
    std::optional<RepositoryRecord> repo = view.GetRepository(name);
    if (!repo) continue;  // the index follows the records; never stale
    ImageRepository* r = response.add_repositories();
    r->set_name(name);
    r->set_is_private(repo->is_private());
    r->set_owner(repo->owner());
  }
  return response;
}

}  // namespace berth::meta
