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
                   blob::BlobClient* blobs)
    : options_(std::move(options)), metadata_(metadata), blobs_(blobs) {
  if (Metrics* m = options_.metrics) {
    uploads_gauge_ = m->GetGauge("berth_uploads_in_flight",
                                 "Layer uploads being received.");
    layer_bytes_in_ = m->GetCounter("berth_layer_received_bytes_total",
                                    "Layer bytes received by uploads.");
    layer_bytes_out_ = m->GetCounter("berth_layer_sent_bytes_total",
                                     "Layer bytes sent by downloads.");
  }
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
    case Endpoint::kImageFiles:
      return GetFiles(ex, r);
    case Endpoint::kImageDiff:
      // Optional in the spec (§2.6.8); Berth does not compute diffs.
      if (!ValidImageId(r.image_id)) return ReplyError(ex, 404, "Invalid image ID");
      return ReplyError(ex, 400, "Diff queue is disabled");
    default:
      break;
  }
  if (r.endpoint == Endpoint::kSearch) return Search(ex, r);
  // Repository endpoints: the name is checked before anything else.
  bool one_component =
      r.ns == "library" &&
      !absl::StartsWith(ex.target(), "/v1/repositories/library/");
  std::string bad = CheckRepositoryName(r.ns, r.repo, one_component);
  if (!bad.empty()) return ReplyError(ex, 400, bad);
  const bool is_delete = ex.method() == "DELETE";
  switch (r.endpoint) {
    case Endpoint::kRepository:
      return is_put ? CreateRepository(ex, r) : DeleteRepository(ex, r);
    case Endpoint::kRepoImages:
      if (is_get) return GetImageList(ex, r);
      if (is_put) return PutImageList(ex, r);
      // PY standalone: 204 and no effect; the list goes with the repository.
      return ex.Respond(204, NoCacheHeaders(), "");
    case Endpoint::kRepoTags:
      return is_delete ? DeleteRepository(ex, r) : GetTags(ex, r);
    case Endpoint::kRepoTag:
      if (is_get) return GetTag(ex, r);
      if (is_put) return PutTag(ex, r);
      return DeleteTag(ex, r);
    case Endpoint::kRepoTagJson:
      return GetTagJson(ex, r, r.tag);
    case Endpoint::kRepoJson:
      return GetRepositoryJson(ex, r);
    case Endpoint::kRepoProperties:
      return Properties(ex, r);
    // Token checks for external registries (spec §2.4.6), PY standalone
    // answers: with auth = none every caller may do everything.
    case Endpoint::kRepoAuth:
      return ReplyJson(ex, 200, JsonString("OK"));
    case Endpoint::kRepoLayerAccess:
      if (!ValidImageId(r.image_id)) {
        return ReplyError(ex, 404, "Invalid image ID");
      }
      return ReplyJson(ex, 200, "{\"access\": true}");
    default:
      break;
  }
  ReplyError(ex, 404, "Not found");
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
