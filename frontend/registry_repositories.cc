// Index and repository endpoints (spec §2.4, §2.5).
#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "frontend/http_util.h"
#include "frontend/names.h"
#include "frontend/registry.h"
#include "nlohmann/json.hpp"

namespace berth::frontend {
namespace {

std::string FullName(const Route& r) { return absl::StrCat(r.ns, "/", r.repo); }

// Parses an image list body (spec §2.4.1). Returns "" or the error message.
std::string ParseImageList(const std::string& body,
                           google::protobuf::RepeatedPtrField<
                               meta::ImageListEntry>* out) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded()) return "Error Decoding JSON";
  if (!json.is_array()) return "Invalid data";
  for (const auto& element : json) {
    if (!element.is_object()) return "Invalid data";
    auto id = element.find("id");
    if (id == element.end() || !id->is_string() ||
        !ValidImageId(id->get<std::string>())) {
      return "Invalid data";
    }
    meta::ImageListEntry* entry = out->Add();
    entry->set_id(id->get<std::string>());
    auto checksum = element.find("checksum");
    if (checksum != element.end() && checksum->is_string()) {
      entry->set_checksum(checksum->get<std::string>());
    }
  }
  return "";
}

std::string ImageListJson(const meta::RepositoryRecord& repo) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : repo.images()) {
    nlohmann::json item = {{"id", e.id()}};
    if (!e.checksum().empty()) item["checksum"] = e.checksum();
    list.push_back(std::move(item));
  }
  return list.dump();
}

}  // namespace

bool Registry::AddIndexHeaders(HttpExchange& ex, const Route& r,
                               auth::Access access, HeaderList* headers) {
  // docker needs a token and exactly one endpoint to push (spec §2.4.2);
  // tokens are HMACs any frontend of the cluster validates (§1.4.3).
  absl::StatusOr<std::string> token =
      access_->IssueToken(FullName(r), access);
  if (!token.ok()) {
    ReplyUnavailable(ex, token.status());
    return false;
  }
  headers->emplace_back("X-Docker-Token", *token);
  headers->emplace_back("WWW-Authenticate", "Token " + *token);
  std::string endpoint = options_.public_endpoint;
  if (endpoint.empty()) endpoint = ex.header("Host").value_or("localhost");
  headers->emplace_back("X-Docker-Endpoints", endpoint);
  AddEncryptCapability(headers);
  return true;
}

bool Registry::MayListAll(
    HttpExchange& ex, const Caller& caller,
    const google::protobuf::RepeatedPtrField<meta::ImageListEntry>& images) {
  for (const auto& entry : images) {
    absl::StatusOr<bool> ok = access_->MayList(caller, entry.id());
    if (!ok.ok()) {
      ReplyUnavailable(ex, ok.status());
      return false;
    }
    if (!*ok) {
      ReplyError(ex, 403, "Access denied");
      return false;
    }
  }
  return true;
}

bool Registry::LoadRepository(HttpExchange& ex, const Route& r,
                              const Caller& caller, auth::Access access,
                              meta::GetRepositoryResponse* out) {
  meta::GetRepositoryRequest request;
  request.set_name(FullName(r));
  auto response = metadata_->GetRepository(request);
  if (!response.ok()) {
    ReplyUnavailable(ex, response.status());
    return false;
  }
  const bool exists = response->error().reason() == REASON_UNSPECIFIED;
  if (!AuthorizeRepository(ex, r, caller, access,
                           exists ? &response->repository() : nullptr)) {
    return false;
  }
  *out = std::move(*response);
  return true;
}

void Registry::CreateRepository(HttpExchange& ex, const Route& r,
                                const Caller& caller) {
  if (!AuthorizeRepository(ex, r, caller, auth::Access::kWrite, nullptr)) {
    return;
  }
  absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
  if (!body.ok()) return ReplyError(ex, 413, "Request body too large");
  meta::Command command;
  auto* create = command.mutable_create_repository();
  create->set_name(FullName(r));
  std::string bad =
      body->empty() ? "" : ParseImageList(*body, create->mutable_images());
  if (!bad.empty()) return ReplyError(ex, 400, bad);
  if (!MayListAll(ex, caller, create->images())) return;
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  if (result->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 400, result->error().message());
  }
  HeaderList headers = NoCacheHeaders();
  if (!AddIndexHeaders(ex, r, auth::Access::kWrite, &headers)) return;
  ex.Respond(200, headers, "\"\"");
}

void Registry::PutImageList(HttpExchange& ex, const Route& r,
                            const Caller& caller) {
  if (!AuthorizeRepository(ex, r, caller, auth::Access::kWrite, nullptr)) {
    return;
  }
  absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
  if (!body.ok()) return ReplyError(ex, 413, "Request body too large");
  meta::Command command;
  auto* merge = command.mutable_merge_image_list();
  merge->set_name(FullName(r));
  std::string bad = ParseImageList(*body, merge->mutable_images());
  if (!bad.empty()) return ReplyError(ex, 400, bad);
  if (!MayListAll(ex, caller, merge->images())) return;
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  if (result->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 400, result->error().message());
  }
  ex.Respond(204, NoCacheHeaders(), "");
}

void Registry::GetImageList(HttpExchange& ex, const Route& r,
                            const Caller& caller) {
  meta::GetRepositoryResponse repo;
  if (!LoadRepository(ex, r, caller, auth::Access::kRead, &repo)) return;
  if (repo.error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "images not found");
  }
  HeaderList headers = NoCacheHeaders();
  if (ex.header("X-Docker-Token").value_or("") == "true" &&
      !AddIndexHeaders(ex, r, auth::Access::kRead, &headers)) {
    return;
  }
  // Entries without a checksum show the image's TarSum (client's, else
  // computed), read now and never stored (spec §3.2.9), so a checksum sent
  // later in an image-list PUT is still recorded.
  meta::RepositoryRecord* record = repo.mutable_repository();
  for (meta::ImageListEntry& e : *record->mutable_images()) {
    if (!e.checksum().empty()) continue;
    meta::GetImageRequest request;
    request.set_id(e.id());
    auto image = metadata_->GetImage(request);
    if (!image.ok()) return ReplyUnavailable(ex, image.status());
    if (image->error().reason() != REASON_UNSPECIFIED) continue;
    const meta::ImageRecord& i = image->image();
    e.set_checksum(i.client_tarsum().empty() ? i.computed_tarsum() : i.client_tarsum());
  }
  ex.Respond(200, headers, ImageListJson(*record));
}

void Registry::GetTags(HttpExchange& ex, const Route& r,
                       const Caller& caller) {
  meta::GetRepositoryResponse repo;
  if (!LoadRepository(ex, r, caller, auth::Access::kRead, &repo)) return;
  if (repo.error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "Repository not found");
  }
  nlohmann::json tags = nlohmann::json::object();
  for (const auto& [tag, id] : repo.tags()) tags[tag] = id;
  ReplyJson(ex, 200, tags.dump());
}

void Registry::GetTag(HttpExchange& ex, const Route& r, const Caller& caller) {
  meta::GetRepositoryResponse repo;
  if (!LoadRepository(ex, r, caller, auth::Access::kRead, &repo)) return;
  auto it = repo.tags().find(r.tag);
  if (repo.error().reason() != REASON_UNSPECIFIED || it == repo.tags().end()) {
    return ReplyError(ex, 404, "Tag not found");
  }
  ReplyJson(ex, 200, JsonString(it->second));
}

void Registry::GetTagJson(HttpExchange& ex, const Route& r,
                          const Caller& caller, const std::string& tag) {
  meta::GetRepositoryResponse repo;
  if (!LoadRepository(ex, r, caller, auth::Access::kRead, &repo)) return;
  meta::GetTagRequest request;
  request.set_repository(FullName(r));
  request.set_tag(tag);
  auto response = metadata_->GetTag(request);
  if (!response.ok()) return ReplyUnavailable(ex, response.status());
  if (response->error().reason() != REASON_UNSPECIFIED ||
      response->tag_metadata().empty()) {
    return ReplyJson(ex, 200, DefaultTagMetadataJson());
  }
  ReplyJson(ex, 200, response->tag_metadata());
}

void Registry::GetRepositoryJson(HttpExchange& ex, const Route& r,
                                 const Caller& caller) {
  meta::GetRepositoryResponse repo;
  if (!LoadRepository(ex, r, caller, auth::Access::kRead, &repo)) return;
  const std::string& metadata = repo.repository().metadata();
  if (repo.error().reason() != REASON_UNSPECIFIED || metadata.empty()) {
    return ReplyJson(ex, 200, DefaultTagMetadataJson());
  }
  ReplyJson(ex, 200, metadata);
}

void Registry::PutTag(HttpExchange& ex, const Route& r, const Caller& caller) {
  if (!ValidTag(r.tag)) {
    return ReplyError(ex, 400,
                      "Invalid tag name (must match ^[\\w][\\w.-]{0,127}$)");
  }
  if (!AuthorizeRepository(ex, r, caller, auth::Access::kWrite, nullptr)) {
    return;
  }
  absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
  if (!body.ok()) return ReplyError(ex, 413, "Request body too large");
  auto json = nlohmann::json::parse(*body, nullptr, false);
  if (json.is_discarded() || !json.is_string() ||
      json.get<std::string>().empty()) {
    return ReplyError(ex, 400, "Invalid data");
  }
  const std::string id = json.get<std::string>();
  if (!ValidImageId(id)) return ReplyError(ex, 404, "Image not found");
  // Tagging lists the image: the same rule as a list PUT, answered like a
  // missing image so a private one is not revealed.
  absl::StatusOr<bool> may_list = access_->MayList(caller, id);
  if (!may_list.ok()) return ReplyUnavailable(ex, may_list.status());
  if (!*may_list) return ReplyError(ex, 404, "Image not found");
  meta::Command command;
  auto* put = command.mutable_put_tag();
  put->set_repository(FullName(r));
  put->set_tag(r.tag);
  put->set_image_id(id);
  put->set_tag_metadata(TagMetadataJson(ex.header("User-Agent").value_or(""),
                                        absl::ToUnixSeconds(absl::Now())));
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  if (result->error().reason() == IMAGE_NOT_FOUND) {
    return ReplyError(ex, 404, "Image not found");
  }
  if (result->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 400, result->error().message());
  }
  ReplyJson(ex, 200, "true");
}

void Registry::DeleteTag(HttpExchange& ex, const Route& r,
                         const Caller& caller) {
  if (!AuthorizeRepository(ex, r, caller, auth::Access::kDelete, nullptr)) {
    return;
  }
  meta::Command command;
  command.mutable_delete_tag()->set_repository(FullName(r));
  command.mutable_delete_tag()->set_tag(r.tag);
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  if (result->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "Tag not found: " + r.tag);
  }
  ReplyJson(ex, 200, "true");
}

void Registry::DeleteRepository(HttpExchange& ex, const Route& r,
                                const Caller& caller) {
  if (!AuthorizeRepository(ex, r, caller, auth::Access::kDelete, nullptr)) {
    return;
  }
  // The Hub's two-step delete (spec §2.4.5): an account asking for a token
  // gets 202 and a delete token; the registry form (token, cookie, or
  // auth = none) deletes.
  if (access_->options().mode != AuthMode::kNone && !caller.anonymous &&
      !caller.grant && ex.header("X-Docker-Token").value_or("") == "true") {
    meta::GetRepositoryRequest request;
    request.set_name(FullName(r));
    auto response = metadata_->GetRepository(request);
    if (!response.ok()) return ReplyUnavailable(ex, response.status());
    if (response->error().reason() != REASON_UNSPECIFIED) {
      return ReplyError(ex, 404, "Repository not found");
    }
    HeaderList headers = NoCacheHeaders();
    if (!AddIndexHeaders(ex, r, auth::Access::kDelete, &headers)) return;
    return ex.Respond(202, headers, "\"\"");
  }
  meta::Command command;
  command.mutable_delete_repository()->set_name(FullName(r));
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  if (result->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "Repository not found");
  }
  ReplyJson(ex, 200, "true");
}

void Registry::Properties(HttpExchange& ex, const Route& r,
                          const Caller& caller) {
  if (ex.method() == "PUT") {
    if (!AuthorizeRepository(ex, r, caller, auth::Access::kWrite, nullptr)) {
      return;
    }
    absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
    if (!body.ok()) return ReplyError(ex, 413, "Request body too large");
    auto json = nlohmann::json::parse(*body, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
      return ReplyError(ex, 400, "Invalid data");
    }
    auto access = json.find("access");
    if (access == json.end() || !access->is_string() ||
        (*access != "public" && *access != "private")) {
      return ReplyError(ex, 400, "Invalid data");
    }
    meta::Command command;
    auto* set = command.mutable_set_repository_properties();
    set->set_name(FullName(r));
    set->set_create(true);
    set->set_has_private(true);
    set->set_is_private(*access == "private");
    auto result = metadata_->Execute(command);
    if (!result.ok()) return ReplyUnavailable(ex, result.status());
    if (result->error().reason() != REASON_UNSPECIFIED) {
      return ReplyError(ex, 400, result->error().message());
    }
    return ReplyJson(ex, 200, "true");
  }
  meta::GetRepositoryResponse repo;
  if (!LoadRepository(ex, r, caller, auth::Access::kRead, &repo)) return;
  if (repo.error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "Repository not found");
  }
  nlohmann::json out = {
      {"access", repo.repository().is_private() ? "private" : "public"}};
  ReplyJson(ex, 200, out.dump());
}

void Registry::Search(HttpExchange& ex, const Route& r, const Caller& caller) {
  std::map<std::string, std::string> query = ParseQuery(r.query);
  auto number = [&](const char* key, int fallback, int lo, int hi,
                    int* out) -> bool {
    auto it = query.find(key);
    if (it == query.end() || it->second.empty()) {
      *out = fallback;
      return true;
    }
    return absl::SimpleAtoi(it->second, out) && *out >= lo && *out <= hi;
  };
  int n = 25, page = 1;
  if (!number("n", 25, 1, 100, &n) || !number("page", 1, 1, 1 << 30, &page)) {
    return ReplyError(ex, 400, "Invalid parameter");
  }
  meta::SearchRequest request;
  request.set_query(query.count("q") ? query["q"] : "");
  request.set_page(static_cast<uint32_t>(page));
  request.set_n(static_cast<uint32_t>(n));
  // Private repositories only for those who may read them (§2.7, §7.9).
  request.set_admin(caller.admin);
  request.set_username(caller.grant || !caller.active ? "" : caller.username);
  auto response = metadata_->Search(request);
  if (!response.ok()) return ReplyUnavailable(ex, response.status());
  nlohmann::json results = nlohmann::json::array();
  for (const auto& result : response->results()) {
    absl::string_view name = result.name();
    bool official = absl::ConsumePrefix(&name, "library/");
    results.push_back({{"name", std::string(name)},
                       {"description", result.description()},
                       {"star_count", 0},
                       {"is_official", official},
                       {"is_trusted", false},
                       {"is_automated", false}});
  }
  const uint64_t total = response->total();
  const uint64_t pages = std::max<uint64_t>(1, (total + n - 1) / n);
  nlohmann::json out = {{"query", request.query()},
                        {"num_results", total},
                        {"num_pages", pages},
                        {"page", absl::StrCat(page)},
                        {"page_size", n},
                        {"results", results}};
  ReplyJson(ex, 200, out.dump());
}

}  // namespace berth::frontend
