// A small Docker Registry v1 client for integration tests, over the
// harness's one-request-per-connection HttpFetch. Each call returns the raw
// HttpResponse (status, headers, body) so tests can assert on every byte;
// only transport failures are errors. PushChain and PullAndVerify run the
// standalone client sequences of spec §5.3 and §5.5.
#ifndef BERTH_TESTS_REGISTRY_CLIENT_H_
#define BERTH_TESTS_REGISTRY_CLIENT_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/harness/http.h"

namespace berth::testing {

// "sha256:" + hex(sha256(json + "\n" + layer)) (spec §3.1).
std::string PayloadChecksum(const std::string& json, const std::string& layer);

// True if `r` has this status, Content-Type application/json and a body
// that parses to exactly {"error": message}.
bool IsJsonError(const HttpResponse& r, int status, const std::string& message,
                 std::string* why = nullptr);

class RegistryClient {
 public:
  RegistryClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
  // "http://host:port[/]", "https://host:port[/]" (then set_tls_ca_file
  // too) or "host:port".
  static absl::StatusOr<RegistryClient> FromUrl(const std::string& url);

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  // Sent as `Authorization: Token <token>` on registry calls when non-empty.
  void set_token(std::string token) { token_ = std::move(token); }
  // Sent as `Authorization: <value>` (e.g. "Basic YWxpY2U6cHc=") on the
  // index calls PutRepository, GetImageList and PutImageList when non-empty
  // (index mode, spec §5.2/§5.4: Basic to the index, tokens to registry
  // paths). Empty by default: those calls then carry no Authorization.
  void set_index_auth(std::string value) { index_auth_ = std::move(value); }
  const std::string& index_auth() const { return index_auth_; }
  void set_timeout(absl::Duration t) { timeout_ = t; }
  // Non-empty: every request goes over HTTPS, verifying the server against
  // this PEM CA file (HttpRequest::tls_ca_file).
  void set_tls_ca_file(std::string path) { tls_ca_file_ = std::move(path); }
  const std::string& tls_ca_file() const { return tls_ca_file_; }
  absl::Duration timeout() const { return timeout_; }

  // Any request to this server.
  absl::StatusOr<HttpResponse> Request(
      const std::string& method, const std::string& path,
      std::vector<std::pair<std::string, std::string>> headers = {},
      std::string body = "") const;

  absl::StatusOr<HttpResponse> Ping(const std::string& path = "/v1/_ping",
                                    const std::string& method = "GET") const;

  // PUT /v1/repositories/<name>/ with X-Docker-Token: true.
  absl::StatusOr<HttpResponse> PutRepository(const std::string& name,
                                             const std::string& images) const;
  absl::StatusOr<HttpResponse> PutImageJson(const std::string& id,
                                            const std::string& json) const;
  // Content-Length framing.
  absl::StatusOr<HttpResponse> PutLayer(const std::string& id,
                                        const std::string& layer) const;
  // Transfer-Encoding: chunked, framed here: chunks of `chunk_size` bytes
  // (hex size line, data, CRLF), then the terminating 0-chunk.
  absl::StatusOr<HttpResponse> PutLayerChunked(const std::string& id,
                                               const std::string& layer,
                                               size_t chunk_size = 1024) const;
  // X-Docker-Checksum-Payload: payload (omitted if nullopt);
  // X-Docker-Checksum: tarsum if non-empty.
  absl::StatusOr<HttpResponse> PutChecksum(
      const std::string& id, const std::optional<std::string>& payload,
      const std::string& tarsum = "") const;
  absl::StatusOr<HttpResponse> GetImageJson(const std::string& id,
                                            const std::string& method = "GET") const;
  // `range` is the Range header value, e.g. "bytes=10-".
  absl::StatusOr<HttpResponse> GetLayer(
      const std::string& id, const std::optional<std::string>& range = {},
      const std::string& method = "GET") const;
  absl::StatusOr<HttpResponse> GetAncestry(const std::string& id) const;
  absl::StatusOr<HttpResponse> PutTag(const std::string& repo,
                                      const std::string& tag,
                                      const std::string& id) const;
  absl::StatusOr<HttpResponse> GetTags(const std::string& repo) const;
  absl::StatusOr<HttpResponse> GetImageList(const std::string& repo) const;
  // PUT /v1/repositories/<name>/images (finish push). The caller checks for
  // 204.
  absl::StatusOr<HttpResponse> PutImageList(const std::string& repo,
                                            const std::string& body = "[]") const;

  // Sends `head` (request line + headers, ending in an empty line) and then
  // `partial_body` on a raw socket, half-closes it (the server sees EOF in
  // the middle of the body) and reads whatever the server answers until it
  // closes the connection. Returns that raw answer (possibly empty). The
  // read gives the test a point after which the server is done with the
  // cut-off request.
  absl::StatusOr<std::string> SendCutOff(const std::string& head,
                                         const std::string& partial_body) const;
  // The head of `PUT /v1/images/<id>/layer` with Content-Length or chunked
  // framing, for SendCutOff.
  std::string LayerPutHead(const std::string& id,
                           std::optional<size_t> content_length) const;

 private:
  std::vector<std::pair<std::string, std::string>> Auth() const;
  std::vector<std::pair<std::string, std::string>> IndexAuth() const;

  std::string host_;
  int port_ = 0;
  std::string token_;
  std::string index_auth_;
  std::string tls_ca_file_;
  absl::Duration timeout_ = absl::Seconds(20);
};

// Chunked transfer coding of `data` (with the terminating 0-chunk if
// `terminate`).
std::string ChunkedEncode(const std::string& data, size_t chunk_size,
                          bool terminate = true);

// One image of a push: id, verbatim json bytes and layer bytes.
struct PushImage {
  std::string id;
  std::string parent;  // "" for a root
  std::string json;
  std::string layer;
  std::string tarsum;  // optional client TarSum, sent as X-Docker-Checksum
};

enum class LayerFraming { kContentLength, kChunked, kAlternate };

struct PushOptions {
  // Tag -> image id, set after that image is uploaded (spec §5.2 step 2.6).
  std::map<std::string, std::string> tags;
  LayerFraming framing = LayerFraming::kChunked;
  size_t chunk_size = 700;
  // Index mode (spec §5.2 step 2): send the registry calls (image PUTs,
  // probes, tags) to the host:port named in X-Docker-Endpoints instead of
  // the index client's server. The index calls (steps 1 and 3) stay on the
  // client passed to PushChain, with its index_auth().
  bool follow_endpoints = false;
};

struct PushReport {
  std::vector<std::string> uploaded;  // ids whose json+layer+checksum were sent
  std::vector<std::string> skipped;   // ids the server already had (GET json 200 or 409)
  std::string token;                  // X-Docker-Token from step 1
  std::string endpoints;              // X-Docker-Endpoints from step 1
};

// Spec §5.3: ping; PUT repository (one element per image/tag pair, base
// first); per image, base first: GET json probe, PUT json, PUT layer, PUT
// checksum, PUT tags; PUT image list expecting 204. `images` must be base
// first. Any unexpected answer is an error naming the call and the answer.
absl::StatusOr<PushReport> PushChain(const RegistryClient& client,
                                     const std::string& repo,
                                     const std::vector<PushImage>& images,
                                     const PushOptions& options);

struct PulledImage {
  std::string id;
  std::string json;
  std::string layer;
  HttpResponse json_response;  // headers of GET json (body moved to `json`)
  HttpResponse layer_response;  // headers of GET layer (body moved to `layer`)
};

struct PullResult {
  std::map<std::string, std::string> tags;  // GET tags
  // Tag -> ancestry as returned (image first, root last).
  std::map<std::string, std::vector<std::string>> ancestry;
  // Every image pulled, by id.
  std::map<std::string, PulledImage> images;
  // Ids in the order they were fetched (for each tag: root first).
  std::vector<std::string> order;
};

// Spec §5.5: ping; GET tags; for each tag: GET ancestry, then for each id
// from the root to the image (once per id): GET json and GET layer. Checks
// while pulling (errors otherwise): every answer 200; ancestry starts with
// the tagged id; each json's "id" is its id and its "parent" is the next
// ancestry entry (absent for the root); X-Docker-Size equals the layer's
// length; X-Docker-Checksum-Payload equals PayloadChecksum(json, layer).
absl::StatusOr<PullResult> PullAndVerify(const RegistryClient& client,
                                         const std::string& repo);

struct IndexPullResult {
  PullResult pull;
  std::string token;      // X-Docker-Token of GET …/images (read access)
  std::string endpoints;  // X-Docker-Endpoints of GET …/images
  std::string image_list;  // body of GET …/images
};

// Spec §5.4 (index mode): GET /v1/repositories/<repo>/images on `index`
// (with its index_auth() and X-Docker-Token: true; must answer 200 with a
// token), then PullAndVerify against the first X-Docker-Endpoints entry
// (or the index itself if absent) with `Authorization: Token <token>` on
// every registry call. `tags_repo` is the name used for GET …/tags (docker
// sends library/<repo> for one-component names); default `repo`.
absl::StatusOr<IndexPullResult> PullIndexAndVerify(
    const RegistryClient& index, const std::string& repo,
    const std::string& tags_repo = "");

}  // namespace berth::testing

#endif  // BERTH_TESTS_REGISTRY_CLIENT_H_
