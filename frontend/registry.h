// The v1 registry + index handler (spec §2), standalone mode, auth = none.
//
// Stateless: every answer comes from the metadata tier (MetadataClient) and
// the blobstore (BlobClient); nothing a later request needs is kept here.
// Handle() runs on the connection's thread; the clients are thread-safe.
#ifndef BERTH_FRONTEND_REGISTRY_H_
#define BERTH_FRONTEND_REGISTRY_H_

#include <cstddef>
#include <string>

#include <atomic>

#include "blobstore/blob_client.h"
#include "common/metrics.h"
#include "frontend/http_exchange.h"
#include "frontend/routes.h"
#include "metadata/metadata_client.h"

namespace berth::frontend {

struct RegistryOptions {
  std::string version = "0.1.0";
  // host[:port] sent in X-Docker-Endpoints; empty = the request's Host.
  std::string public_endpoint;
  size_t max_json_size = 1 << 20;
  uint64_t max_layer_size = 0;  // 0 = unlimited (spec §7.9)
  int max_uploads = 64;         // concurrent layer uploads; more get 503
  Metrics* metrics = nullptr;   // optional
};

class Registry final : public HttpHandler {
 public:
  Registry(RegistryOptions options, meta::MetadataClient* metadata,
           blob::BlobClient* blobs);
  void Handle(HttpExchange& ex) override;

 private:
  // Index and repository endpoints (registry_repositories.cc).
  void CreateRepository(HttpExchange& ex, const Route& r);
  void GetImageList(HttpExchange& ex, const Route& r);
  void PutImageList(HttpExchange& ex, const Route& r);
  void GetTags(HttpExchange& ex, const Route& r);
  void GetTag(HttpExchange& ex, const Route& r);
  void PutTag(HttpExchange& ex, const Route& r);
  void GetTagJson(HttpExchange& ex, const Route& r, const std::string& tag);
  void GetRepositoryJson(HttpExchange& ex, const Route& r);
  void DeleteTag(HttpExchange& ex, const Route& r);
  void DeleteRepository(HttpExchange& ex, const Route& r);
  void Properties(HttpExchange& ex, const Route& r);
  void Search(HttpExchange& ex, const Route& r);
  void Users(HttpExchange& ex, const Route& r);
  // Image endpoints (registry_images.cc).
  void PutImageJson(HttpExchange& ex, const Route& r);
  void GetImageJson(HttpExchange& ex, const Route& r);
  void GetAncestry(HttpExchange& ex, const Route& r);
  void PutLayer(HttpExchange& ex, const Route& r);
  void GetLayer(HttpExchange& ex, const Route& r);
  void PutChecksum(HttpExchange& ex, const Route& r);
  void GetFiles(HttpExchange& ex, const Route& r);

  // Loads a complete image for a read endpoint; answers the error itself
  // and returns false when the image is missing or unfinished.
  bool LoadCompleteImage(HttpExchange& ex, const std::string& id,
                         bool include_json, meta::ImageRecord* out);
  void AddIndexHeaders(HttpExchange& ex, const Route& r,
                       const std::string& access, HeaderList* headers) const;

  const RegistryOptions options_;
  meta::MetadataClient* const metadata_;
  blob::BlobClient* const blobs_;
  std::atomic<int> uploads_in_flight_{0};
  Gauge* uploads_gauge_ = nullptr;
  Counter* layer_bytes_in_ = nullptr;
  Counter* layer_bytes_out_ = nullptr;
};

// The route label used in metrics and the access log.
const char* EndpointName(Endpoint endpoint);

// Answers `status` with {"error": message} and the no-cache headers.
void ReplyError(HttpExchange& ex, int status, const std::string& message);
// Answers `status` with a JSON body and the no-cache headers.
void ReplyJson(HttpExchange& ex, int status, std::string body);
// 503 for a tier that could not be reached (outcome unknown).
void ReplyUnavailable(HttpExchange& ex, const absl::Status& status);

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_REGISTRY_H_
