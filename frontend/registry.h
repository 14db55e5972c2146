// The v1 registry + index handler (spec §2), standalone mode, auth = none.
//
// Stateless: every answer comes from the metadata tier (MetadataClient) and
// the blobstore (BlobClient); the only state kept here is a cache of
// complete (hence immutable) image records, see ImageCache.
// Handle() runs on the connection's thread; the clients are thread-safe.
#ifndef BERTH_FRONTEND_REGISTRY_H_
#define BERTH_FRONTEND_REGISTRY_H_

#include <cstddef>
#include <string>

#include <atomic>

#include "blobstore/blob_client.h"
#include "common/metrics.h"
#include "frontend/access.h"
#include "frontend/auth/encryption.h"
#include "frontend/http_exchange.h"
#include "frontend/image_cache.h"
#include "frontend/routes.h"
#include "frontend/shard_map_follower.h"
#include "metadata/metadata_client.h"

namespace berth::frontend {

struct RegistryOptions {
  std::string version = "0.1.0";
  // host[:port] sent in X-Docker-Endpoints; empty = the request's Host.
  std::string public_endpoint;
  size_t max_json_size = 1 << 20;
  uint64_t max_layer_size = 0;  // 0 = unlimited (spec §7.9)
  int max_uploads = 64;         // concurrent layer uploads; more get 503
  bool encryption = true;       // the X-Docker-Encrypt extension (spec §6)
  // Bytes of complete images' records kept in memory (ImageCache); 0 = off.
  size_t image_cache_bytes = 64 << 20;
  Metrics* metrics = nullptr;   // optional
  // ClusterConfig.images_deleted_generation as last read (the shard map
  // follower stores it); the image cache is dropped when it changes.
  // Optional; must outlive the handler.
  const std::atomic<uint64_t>* images_generation = nullptr;
};

class Registry final : public HttpHandler {
 public:
  // `access` decides who may do what; all three must outlive the handler.
  // Each request takes the holder's current blob client and keeps it to
  // its end (the shard map may change meanwhile).
  Registry(RegistryOptions options, meta::MetadataClient* metadata,
           BlobClientHolder* blobs, AccessControl* access);
  void Handle(HttpExchange& ex) override;

 private:
  // Index and repository endpoints (registry_repositories.cc).
  void CreateRepository(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetImageList(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void PutImageList(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetTags(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetTag(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void PutTag(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetTagJson(HttpExchange& ex, const Route& r, const Caller& caller,
                  const std::string& tag);
  void GetRepositoryJson(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void DeleteTag(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void DeleteRepository(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void Properties(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void Search(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void Users(HttpExchange& ex, const Route& r,
                const Caller& caller);
  // Image endpoints (registry_images.cc).
  void PutImageJson(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetImageJson(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetAncestry(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void PutLayer(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetLayer(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void PutChecksum(HttpExchange& ex, const Route& r,
                const Caller& caller);
  void GetFiles(HttpExchange& ex, const Route& r,
                const Caller& caller);

  void TokenCheck(HttpExchange& ex, const Route& r, const Caller& caller);
  void LayerAccess(HttpExchange& ex, const Route& r, const Caller& caller);

  // For image read endpoints: checks the id, the caller's read permission
  // and that the image is complete; answers the error itself and returns
  // null otherwise. Complete records come from image_cache_ when present
  // (no metadata round trip); the permission check is never cached.
  std::shared_ptr<const meta::ImageRecord> LoadReadableImage(
      HttpExchange& ex, const std::string& id, const Caller& caller,
      bool include_json);
  // Answers the denial and returns false unless `caller` may use `access`
  // on the route's repository (`repo`: its record when known).
  bool AuthorizeRepository(HttpExchange& ex, const Route& r,
                           const Caller& caller, auth::Access access,
                           const meta::RepositoryRecord* repo);
  void AddEncryptCapability(HeaderList* headers) const;
  // X-Docker-Encrypt/-Sign image status (spec §6.3) when enabled.
  void AddImageStatus(const meta::ImageRecord& image,
                      HeaderList* headers) const;
  // X-Docker-Token (a fresh signed token), WWW-Authenticate and
  // X-Docker-Endpoints; false (and a 503 answered) if no token could be made.
  bool AddIndexHeaders(HttpExchange& ex, const Route& r, auth::Access access,
                       HeaderList* headers);
  // Reads the route's repository and checks `access` against it (private
  // flag, owner); answers and returns false when denied. `out` may carry a
  // REPOSITORY_NOT_FOUND error for the caller to answer.
  // Answers 403 and returns false if any listed image may not be listed by
  // `caller` (AccessControl::MayList).
  bool MayListAll(
      HttpExchange& ex, const Caller& caller,
      const google::protobuf::RepeatedPtrField<meta::ImageListEntry>& images);
  bool LoadRepository(HttpExchange& ex, const Route& r, const Caller& caller,
                      auth::Access access, meta::GetRepositoryResponse* out);

  const RegistryOptions options_;
  meta::MetadataClient* const metadata_;
  BlobClientHolder* const blobs_;
  AccessControl* const access_;
  ImageCache image_cache_;
  std::atomic<int> uploads_in_flight_{0};
  Gauge* uploads_gauge_ = nullptr;
  Counter* layer_bytes_in_ = nullptr;
  Counter* layer_bytes_out_ = nullptr;
};

// The route label used in metrics and the access log.
const char* EndpointName(Endpoint endpoint);

// Answers a failed authentication/authorisation check.
void Deny(HttpExchange& ex, const Denial& denial);
// Answers `status` with {"error": message} and the no-cache headers.
void ReplyError(HttpExchange& ex, int status, const std::string& message);
// Answers `status` with a JSON body and the no-cache headers.
void ReplyJson(HttpExchange& ex, int status, std::string body);
// 503 for a tier that could not be reached (outcome unknown).
void ReplyUnavailable(HttpExchange& ex, const absl::Status& status);

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_REGISTRY_H_
