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

const char* EndpointName(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kPing: return "ping";
    case Endpoint::kRoot: return "root";
    case Endpoint::kV2: return "v2";
    case Endpoint::kUsers: return "users";
    case Endpoint::kUser: return "user";
    case Endpoint::kSearch: return "search";
    case Endpoint::kImageJson: return "image_json";
    case Endpoint::kImageLayer: return "image_layer";
    case Endpoint::kImageChecksum: return "image_checksum";
    case Endpoint::kImageAncestry: return "image_ancestry";
    case Endpoint::kImageFiles: return "image_files";
    case Endpoint::kImageDiff: return "image_diff";
    case Endpoint::kRepository: return "repository";
    case Endpoint::kRepoImages: return "repository_images";
    case Endpoint::kRepoTags: return "repository_tags";
    case Endpoint::kRepoTag: return "repository_tag";
    case Endpoint::kRepoTagJson: return "repository_tag_json";
    case Endpoint::kRepoJson: return "repository_json";
    case Endpoint::kRepoAuth: return "repository_auth";
    case Endpoint::kRepoLayerAccess: return "repository_layer_access";
    case Endpoint::kRepoProperties: return "repository_properties";
  }
  return "other";
}

Registry::Registry(RegistryOptions options, meta::MetadataClient* metadata,
                   BlobClientHolder* blobs, AccessControl* access)
    : options_(std::move(options)),
      metadata_(metadata),
      blobs_(blobs),
      access_(access),
      image_cache_(options_.image_cache_bytes) {
  if (Metrics* m = options_.metrics) {
    uploads_gauge_ = m->GetGauge("berth_uploads_in_flight",
                                 "Layer uploads being received.");
    layer_bytes_in_ = m->GetCounter("berth_layer_received_bytes_total",
                                    "Layer bytes received by uploads.");
    layer_bytes_out_ = m->GetCounter("berth_layer_sent_bytes_total",
                                     "Layer bytes sent by downloads.");
  }
}

namespace {

// Registry-role paths: in index mode they take only tokens and cookies
// (spec §7.9 rule 3).
bool IsRegistryPath(Endpoint e) {
  switch (e) {
    case Endpoint::kImageJson:
    case Endpoint::kImageLayer:
    case Endpoint::kImageChecksum:
    case Endpoint::kImageAncestry:
    case Endpoint::kImageFiles:
    case Endpoint::kImageDiff:
    case Endpoint::kRepoTags:
    case Endpoint::kRepoTag:
    case Endpoint::kRepoTagJson:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Deny(HttpExchange& ex, const Denial& denial) {
  HeaderList headers = NoCacheHeaders();
  if (!denial.www_authenticate.empty()) {
    headers.emplace_back("WWW-Authenticate", denial.www_authenticate);
  }
  ex.Respond(denial.status, headers, ErrorBody(denial.message));
}

void Registry::Handle(HttpExchange& ex) {
  Route r = ResolveRoute(ex.method(), ex.target());
  ex.set_route_label(r.error_status ? "unknown" : EndpointName(r.endpoint));
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
  switch (r.endpoint) {
    case Endpoint::kV2:
      // v1 only: make docker's v2 probe fail cleanly, never 401 (§1.9.7).
      return ReplyError(ex, 404, "Not found");
    case Endpoint::kPing: {
      // No authentication, never 401 (§2.1).
      HeaderList headers = NoCacheHeaders();
      headers.emplace_back("X-Docker-Registry-Version", options_.version);
      headers.emplace_back(
          "X-Docker-Registry-Standalone",
          access_->options().mode == AuthMode::kIndex ? "false" : "true");
      AddEncryptCapability(&headers);
      return ex.Respond(200, headers, "true");
    }
    case Endpoint::kRoot:
      return ReplyJson(ex, 200, JsonString("docker-registry server"));
    default:
      break;
  }
  // §2.0 order: routing, authentication, syntax, authorisation, state.
  Denial denial;
  absl::StatusOr<Caller> caller =
      access_->Authenticate(ex, IsRegistryPath(r.endpoint), &denial);
  if (!caller.ok()) {
    if (denial.status != 0 && !absl::IsUnavailable(caller.status()) &&
        !absl::IsDeadlineExceeded(caller.status())) {
      return Deny(ex, denial);
    }
    return ReplyUnavailable(ex, caller.status());
  }
  const bool is_get = ex.method() == "GET" || ex.method() == "HEAD";
  const bool is_put = ex.method() == "PUT";
  const bool is_delete = ex.method() == "DELETE";
  const Caller& c = *caller;
  switch (r.endpoint) {
    case Endpoint::kUsers:
    case Endpoint::kUser:
      return Users(ex, r, c);
    case Endpoint::kSearch:
      return Search(ex, r, c);
    case Endpoint::kImageJson:
      return is_get ? GetImageJson(ex, r, c) : PutImageJson(ex, r, c);
    case Endpoint::kImageLayer:
      return is_get ? GetLayer(ex, r, c) : PutLayer(ex, r, c);
    case Endpoint::kImageChecksum:
      return PutChecksum(ex, r, c);
    case Endpoint::kImageAncestry:
      return GetAncestry(ex, r, c);
    case Endpoint::kImageFiles:
      return GetFiles(ex, r, c);
    case Endpoint::kImageDiff: {
      // Optional in the spec (§2.6.8); Berth does not compute diffs.
      auto image = LoadReadableImage(ex, r.image_id, c, false);
      if (image == nullptr) return;
      return ReplyError(ex, 400,
                        image->encrypted() ? "Image is encrypted"
                                          : "Diff queue is disabled");
    }
    default:
      break;
  }
  // Repository endpoints: the name is checked before authorisation.
  bool one_component =
      r.ns == "library" &&
      !absl::StartsWith(ex.target(), "/v1/repositories/library/");
  std::string bad = CheckRepositoryName(r.ns, r.repo, one_component);
  if (!bad.empty()) return ReplyError(ex, 400, bad);
  switch (r.endpoint) {
    case Endpoint::kRepository:
      return is_put ? CreateRepository(ex, r, c) : DeleteRepository(ex, r, c);
    case Endpoint::kRepoImages:
      if (is_get) return GetImageList(ex, r, c);
      if (is_put) return PutImageList(ex, r, c);
      if (!AuthorizeRepository(ex, r, c, auth::Access::kDelete, nullptr)) {
        return;
      }
      // PY standalone: 204 and no effect; the list goes with the repository.
      return ex.Respond(204, NoCacheHeaders(), "");
    case Endpoint::kRepoTags:
      return is_delete ? DeleteRepository(ex, r, c) : GetTags(ex, r, c);
    case Endpoint::kRepoTag:
      if (is_get) return GetTag(ex, r, c);
      if (is_put) return PutTag(ex, r, c);
      return DeleteTag(ex, r, c);
    case Endpoint::kRepoTagJson:
      return GetTagJson(ex, r, c, r.tag);
    case Endpoint::kRepoJson:
      return GetRepositoryJson(ex, r, c);
    case Endpoint::kRepoProperties:
      return Properties(ex, r, c);
    case Endpoint::kRepoAuth:
      return TokenCheck(ex, r, c);
    case Endpoint::kRepoLayerAccess:
      return LayerAccess(ex, r, c);
    default:
      break;
  }
  ReplyError(ex, 404, "Not found");
}

bool Registry::AuthorizeRepository(HttpExchange& ex, const Route& r,
                                   const Caller& caller, auth::Access access,
                                   const meta::RepositoryRecord* repo) {
  std::optional<Denial> denial = access_->CheckRepository(
      caller, absl::StrCat(r.ns, "/", r.repo), access, repo);
  if (!denial) return true;
  Deny(ex, *denial);
  return false;
}

void Registry::AddEncryptCapability(HeaderList* headers) const {
  // A server with the feature off sends no header at all (§7.9 rule 9).
  if (options_.encryption) {
    headers->emplace_back("X-Docker-Encrypt", auth::CapabilityHeader(true));
  }
}

}  // namespace berth::frontend
