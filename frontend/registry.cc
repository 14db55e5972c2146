#include "frontend/registry.h"

#include "absl/strings/match.h"
#include "frontend/http_util.h"
#include "frontend/names.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace berth::frontend {

void ReplyError(HttpExchange& ex, int status, const std::string& message) {
  ex.Respond(status, NoCacheHeaders(), ErrorBody(message));
}

void ReplyJson(HttpExchange& ex, int status, std::string body) {
  ex.Respond(status, NoCacheHeaders(), std::move(body));
}

void ReplyUnavailable(HttpExchange& ex, const absl::Status& status) {
  spdlog::warn("{} {}: {}", ex.method(), ex.target(), status.ToString());
  ReplyError(ex, 503, "Service temporarily unavailable, retry");
}

Registry::Registry(RegistryOptions options, meta::MetadataClient* metadata,
                   blob::BlobClient* blobs)
    : options_(std::move(options)), metadata_(metadata), blobs_(blobs) {}

void Registry::Handle(HttpExchange& ex) {
  Route r = ResolveRoute(ex.method(), ex.target());
  if (r.error_status == 405) {
    HeaderList headers = NoCacheHeaders();
    headers.emplace_back("Allow", r.allow);
    ex.Respond(405, headers, ErrorBody("Method not allowed"));
    return;
  }
  if (r.error_status != 0) {
    ReplyError(ex, 404, "Not found");
    return;
  }
  const bool is_get = ex.method() == "GET" || ex.method() == "HEAD";
  const bool is_put = ex.method() == "PUT";
  switch (r.endpoint) {
    case Endpoint::kV2:
      // v1 only: make docker's v2 probe fail cleanly (spec §1.9.7).
      return ReplyError(ex, 404, "Not found");
    case Endpoint::kPing: {
      HeaderList headers = NoCacheHeaders();
      headers.emplace_back("X-Docker-Registry-Version", options_.version);
      headers.emplace_back("X-Docker-Registry-Standalone", "true");
      return ex.Respond(200, headers, "true");
    }
    case Endpoint::kRoot:
      return ReplyJson(ex, 200, JsonString("docker-registry server"));
    case Endpoint::kUsers:
    case Endpoint::kUser:
      return Users(ex, r);
    case Endpoint::kImageJson:
      return is_get ? GetImageJson(ex, r) : PutImageJson(ex, r);
    case Endpoint::kImageLayer:
      return is_get ? GetLayer(ex, r) : PutLayer(ex, r);
    case Endpoint::kImageChecksum:
      return PutChecksum(ex, r);
    case Endpoint::kImageAncestry:
      return GetAncestry(ex, r);
    default:
      break;
  }
  // Repository endpoints: the name is checked before anything else.
  if (r.endpoint != Endpoint::kSearch && r.endpoint != Endpoint::kImageFiles &&
      r.endpoint != Endpoint::kImageDiff) {
    bool one_component = r.ns == "library" &&
                         !absl::StartsWith(ex.target(), "/v1/repositories/library/");
    std::string bad = CheckRepositoryName(r.ns, r.repo, one_component);
    if (!bad.empty()) return ReplyError(ex, 400, bad);
  }
  switch (r.endpoint) {
    case Endpoint::kRepository:
      if (is_put) return CreateRepository(ex, r);
      break;
    case Endpoint::kRepoImages:
      if (is_get) return GetImageList(ex, r);
      if (is_put) return PutImageList(ex, r);
      // PY standalone: 204 and no effect; the list goes with the repository.
      return ex.Respond(204, NoCacheHeaders(), "");
    case Endpoint::kRepoTags:
      if (is_get) return GetTags(ex, r);
      break;
    case Endpoint::kRepoTag:
      if (is_get) return GetTag(ex, r);
      if (is_put) return PutTag(ex, r);
      break;
    case Endpoint::kRepoTagJson:
      return GetTagJson(ex, r, r.tag);
    case Endpoint::kRepoJson:
      return GetTagJson(ex, r, "latest");
    default:
      break;
  }
  // Repository deletion, tag deletion, properties, search, files and diff
  // arrive with the complete protocol (issue 6).
  ReplyError(ex, 501, "Not implemented yet");
}

void Registry::Users(HttpExchange& ex, const Route& r) {
  // auth = none: PY standalone behaviour (spec §2.3).
  if (r.endpoint == Endpoint::kUser) return ex.Respond(204, NoCacheHeaders(), "");
  if (ex.method() == "POST") {
    absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
    if (!body.ok()) return ReplyError(ex, 400, "Error Decoding JSON");
    auto parsed = nlohmann::json::parse(*body, nullptr, false);
    if (parsed.is_discarded()) return ReplyError(ex, 400, "Error Decoding JSON");
    return ReplyJson(ex, 201, JsonString("User Created"));
  }
  ReplyJson(ex, 200, JsonString("OK"));
}

}  // namespace berth::frontend
