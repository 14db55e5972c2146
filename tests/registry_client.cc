#include "tests/registry_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"
#include "nlohmann/json.hpp"

namespace berth::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// "GET /path -> 400 {...}" for error messages.
std::string Describe(const std::string& what, const HttpResponse& r) {
  std::string body = r.body.size() > 300 ? r.body.substr(0, 300) + "..." : r.body;
  return absl::StrCat(what, " -> ", r.status, " ", body);
}

absl::Status Unexpected(const std::string& what, const HttpResponse& r) {
  return absl::FailedPreconditionError(Describe(what, r));
}

}  // namespace

std::string PayloadChecksum(const std::string& json, const std::string& layer) {
  return "sha256:" + Sha256Hex(json + "\n" + layer);
}

bool IsJsonError(const HttpResponse& r, int status, const std::string& message,
                 std::string* why) {
  std::string reason;
  if (r.status != status) {
    reason = absl::StrCat("status ", r.status, " != ", status);
  } else if (r.Header("Content-Type").value_or("") != "application/json") {
    reason = absl::StrCat("Content-Type '", r.Header("Content-Type").value_or(""),
                          "' != application/json");
  } else {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j != nlohmann::json{{"error", message}}) {
      reason = absl::StrCat("body is not {\"error\": \"", message, "\"}");
    }
  }
  if (!reason.empty() && why != nullptr) {
    *why = absl::StrCat(reason, "; got ", r.status, " ", r.body);
  }
  return reason.empty();
}

absl::StatusOr<RegistryClient> RegistryClient::FromUrl(const std::string& url) {
  absl::string_view s = url;
  if (!absl::ConsumePrefix(&s, "http://")) absl::ConsumePrefix(&s, "https://");
  absl::ConsumeSuffix(&s, "/");
  size_t colon = s.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(s.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("not a host:port URL: ", url));
  }
  return RegistryClient(std::string(s.substr(0, colon)), port);
}

std::vector<std::pair<std::string, std::string>> RegistryClient::Auth() const {
  if (token_.empty()) return {};
  return {{"Authorization", "Token " + token_}};
}

std::vector<std::pair<std::string, std::string>> RegistryClient::IndexAuth() const {
  if (index_auth_.empty()) return {};
  return {{"Authorization", index_auth_}};
}

absl::StatusOr<HttpResponse> RegistryClient::Request(
    const std::string& method, const std::string& path, Headers headers,
    std::string body) const {
  HttpRequest req;
  req.method = method;
  req.host = host_;
  req.port = port_;
  req.path = path;
  req.headers = std::move(headers);
  req.body = std::move(body);
  req.timeout = timeout_;
  req.tls_ca_file = tls_ca_file_;
  return HttpFetch(req);
}

absl::StatusOr<HttpResponse> RegistryClient::Ping(const std::string& path,
                                                  const std::string& method) const {
  return Request(method, path);
}

absl::StatusOr<HttpResponse> RegistryClient::PutRepository(
    const std::string& name, const std::string& images) const {
  Headers h = IndexAuth();
  h.emplace_back("X-Docker-Token", "true");
  h.emplace_back("Content-Type", "application/json");
  return Request("PUT", "/v1/repositories/" + name + "/", std::move(h), images);
}

absl::StatusOr<HttpResponse> RegistryClient::PutImageJson(
    const std::string& id, const std::string& json) const {
  Headers h = Auth();
  h.emplace_back("Content-Type", "application/json");
  return Request("PUT", "/v1/images/" + id + "/json", std::move(h), json);
}

absl::StatusOr<HttpResponse> RegistryClient::PutLayer(
    const std::string& id, const std::string& layer) const {
  Headers h = Auth();
  h.emplace_back("Content-Type", "application/octet-stream");
  h.emplace_back("Content-Length", std::to_string(layer.size()));
  return Request("PUT", "/v1/images/" + id + "/layer", std::move(h), layer);
}

std::string ChunkedEncode(const std::string& data, size_t chunk_size,
                          bool terminate) {
  std::string out;
  for (size_t pos = 0; pos < data.size(); pos += chunk_size) {
    size_t n = std::min(chunk_size, data.size() - pos);
    absl::StrAppend(&out, absl::StrFormat("%x", n), "\r\n",
                    absl::string_view(data).substr(pos, n), "\r\n");
  }
  if (terminate) out += "0\r\n\r\n";
  return out;
}

absl::StatusOr<HttpResponse> RegistryClient::PutLayerChunked(
    const std::string& id, const std::string& layer, size_t chunk_size) const {
  Headers h = Auth();
  h.emplace_back("Content-Type", "application/octet-stream");
  h.emplace_back("Transfer-Encoding", "chunked");
  return Request("PUT", "/v1/images/" + id + "/layer", std::move(h),
                 ChunkedEncode(layer, chunk_size));
}

absl::StatusOr<HttpResponse> RegistryClient::PutChecksum(
    const std::string& id, const std::optional<std::string>& payload,
    const std::string& tarsum) const {
  Headers h = Auth();
  if (payload.has_value()) h.emplace_back("X-Docker-Checksum-Payload", *payload);
  if (!tarsum.empty()) h.emplace_back("X-Docker-Checksum", tarsum);
  return Request("PUT", "/v1/images/" + id + "/checksum", std::move(h));
}

absl::StatusOr<HttpResponse> RegistryClient::GetImageJson(
    const std::string& id, const std::string& method) const {
  return Request(method, "/v1/images/" + id + "/json", Auth());
}

absl::StatusOr<HttpResponse> RegistryClient::GetLayer(
    const std::string& id, const std::optional<std::string>& range,
    const std::string& method) const {
  Headers h = Auth();
  if (range.has_value()) h.emplace_back("Range", *range);
  return Request(method, "/v1/images/" + id + "/layer", std::move(h));
}

absl::StatusOr<HttpResponse> RegistryClient::GetAncestry(
    const std::string& id) const {
  return Request("GET", "/v1/images/" + id + "/ancestry", Auth());
}

absl::StatusOr<HttpResponse> RegistryClient::PutTag(const std::string& repo,
                                                    const std::string& tag,
                                                    const std::string& id) const {
  Headers h = Auth();
  h.emplace_back("Content-Type", "application/json");
  return Request("PUT", "/v1/repositories/" + repo + "/tags/" + tag,
                 std::move(h), "\"" + id + "\"");
}

absl::StatusOr<HttpResponse> RegistryClient::GetTags(
    const std::string& repo) const {
  return Request("GET", "/v1/repositories/" + repo + "/tags", Auth());
}

absl::StatusOr<HttpResponse> RegistryClient::GetImageList(
    const std::string& repo) const {
  Headers h = IndexAuth();
  h.emplace_back("X-Docker-Token", "true");
  return Request("GET", "/v1/repositories/" + repo + "/images", std::move(h));
}

absl::StatusOr<HttpResponse> RegistryClient::PutImageList(
    const std::string& repo, const std::string& body) const {
  Headers h = IndexAuth();
  h.emplace_back("X-Docker-Token", "true");
  h.emplace_back("Content-Type", "application/json");
  return Request("PUT", "/v1/repositories/" + repo + "/images", std::move(h), body);
}

std::string RegistryClient::LayerPutHead(
    const std::string& id, std::optional<size_t> content_length) const {
  std::string head = absl::StrCat("PUT /v1/images/", id,
                                  "/layer HTTP/1.1\r\nHost: ", host_, ":", port_,
                                  "\r\nContent-Type: application/octet-stream\r\n");
  for (const auto& [k, v] : Auth()) absl::StrAppend(&head, k, ": ", v, "\r\n");
  if (content_length.has_value()) {
    absl::StrAppend(&head, "Content-Length: ", *content_length, "\r\n");
  } else {
    absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n");
  }
  head += "\r\n";
  return head;
}

absl::StatusOr<std::string> RegistryClient::SendCutOff(
    const std::string& head, const std::string& partial_body) const {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError("SendCutOff needs an IPv4 address");
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  timeval tv{};
  int64_t ms = absl::ToInt64Milliseconds(timeout_);
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  auto fail = [&](const std::string& what) {
    std::string msg = absl::StrCat(what, ": ", strerror(errno));
    close(fd);
    return absl::UnavailableError(msg);
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("connect");
  }
  std::string out = head + partial_body;
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("send");
    }
    sent += static_cast<size_t>(n);
  }
  if (shutdown(fd, SHUT_WR) != 0) return fail("shutdown");
  std::string answer;
  char buf[4096];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) break;  // the server dropped the connection
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      close(fd);
      return absl::DeadlineExceededError(
          "server kept the cut-off connection open past the timeout");
    }
    return fail("recv");
  }
  close(fd);
  return answer;
}

absl::StatusOr<PushReport> PushChain(const RegistryClient& client_in,
                                     const std::string& repo,
                                     const std::vector<PushImage>& images,
                                     const PushOptions& options) {
  RegistryClient client = client_in;
  PushReport report;
  // Setup: ping.
  absl::StatusOr<HttpResponse> r = client.Ping();
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unexpected("GET /v1/_ping", *r);

  // Step 1: PUT the repository with one element per (image, tag) pair.
  std::map<std::string, std::vector<std::string>> tags_of;
  for (const auto& [tag, id] : options.tags) tags_of[id].push_back(tag);
  nlohmann::json list = nlohmann::json::array();
  for (const PushImage& image : images) {
    auto it = tags_of.find(image.id);
    if (it == tags_of.end()) {
      list.push_back({{"id", image.id}});
    } else {
      for (const std::string& tag : it->second) {
        list.push_back({{"id", image.id}, {"Tag", tag}});
      }
    }
  }
  r = client.PutRepository(repo, list.dump());
  if (!r.ok()) return r.status();
  if (r->status != 200 && r->status != 201) {
    return Unexpected("PUT /v1/repositories/" + repo + "/", *r);
  }
  std::optional<std::string> token = r->Header("X-Docker-Token");
  std::optional<std::string> endpoints = r->Header("X-Docker-Endpoints");
  if (!token || token->empty() || !endpoints || endpoints->empty()) {
    return Unexpected(
        "PUT /v1/repositories/" + repo + "/ without X-Docker-Token/Endpoints", *r);
  }
  report.token = *token;
  report.endpoints = *endpoints;
  client.set_token(*token);
  // The client for registry calls: the index itself, or the endpoint.
  RegistryClient registry = client;
  if (options.follow_endpoints) {
    std::string first = endpoints->substr(0, endpoints->find(','));
    absl::StatusOr<RegistryClient> ep = RegistryClient::FromUrl(first);
    if (!ep.ok()) return ep.status();
    registry = *ep;
    registry.set_timeout(client.timeout());
    registry.set_tls_ca_file(client.tls_ca_file());
    registry.set_token(*token);
  }

  // Step 2: every image, base first.
  for (size_t i = 0; i < images.size(); ++i) {
    const PushImage& image = images[i];
    const std::string base = "/v1/images/" + image.id;
    bool present = false;
    r = registry.GetImageJson(image.id);
    if (!r.ok()) return r.status();
    if (r->status == 200) present = true;
    if (!present) {
      r = registry.PutImageJson(image.id, image.json);
      if (!r.ok()) return r.status();
      if (r->status == 409 && IsJsonError(*r, 409, "Image already exists")) {
        present = true;
      } else if (r->status != 200) {
        return Unexpected("PUT " + base + "/json", *r);
      }
    }
    if (!present) {
      bool chunked = options.framing == LayerFraming::kChunked ||
                     (options.framing == LayerFraming::kAlternate && i % 2 == 0);
      r = chunked ? registry.PutLayerChunked(image.id, image.layer, options.chunk_size)
                  : registry.PutLayer(image.id, image.layer);
      if (!r.ok()) return r.status();
      if (r->status != 200) {
        return Unexpected(absl::StrCat("PUT ", base, "/layer (",
                                       chunked ? "chunked" : "Content-Length", ")"),
                          *r);
      }
      r = registry.PutChecksum(image.id, PayloadChecksum(image.json, image.layer),
                             image.tarsum);
      if (!r.ok()) return r.status();
      if (r->status != 200) return Unexpected("PUT " + base + "/checksum", *r);
      report.uploaded.push_back(image.id);
    } else {
      report.skipped.push_back(image.id);
    }
    auto it = tags_of.find(image.id);
    if (it != tags_of.end()) {
      for (const std::string& tag : it->second) {
        r = registry.PutTag(repo, tag, image.id);
        if (!r.ok()) return r.status();
        if (r->status != 200 && r->status != 201) {
          return Unexpected("PUT /v1/repositories/" + repo + "/tags/" + tag, *r);
        }
      }
    }
  }

  // Step 3: finish the push; docker requires exactly 204.
  r = client.PutImageList(repo, "[]");
  if (!r.ok()) return r.status();
  if (r->status != 204) {
    return Unexpected("PUT /v1/repositories/" + repo + "/images", *r);
  }
  return report;
}

absl::StatusOr<PullResult> PullAndVerify(const RegistryClient& client,
                                         const std::string& repo) {
  PullResult result;
  absl::StatusOr<HttpResponse> r = client.Ping();
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unexpected("GET /v1/_ping", *r);

  r = client.GetTags(repo);
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unexpected("GET tags of " + repo, *r);
  auto tags = nlohmann::json::parse(r->body, nullptr, false);
  if (!tags.is_object()) return Unexpected("GET tags (not an object)", *r);
  for (const auto& [tag, id] : tags.items()) {
    if (!id.is_string()) return Unexpected("GET tags (non-string id)", *r);
    result.tags[tag] = id.get<std::string>();
  }

  for (const auto& [tag, id] : result.tags) {
    r = client.GetAncestry(id);
    if (!r.ok()) return r.status();
    if (r->status != 200) return Unexpected("GET ancestry of " + id, *r);
    auto ancestry = nlohmann::json::parse(r->body, nullptr, false);
    if (!ancestry.is_array() || ancestry.empty()) {
      return Unexpected("GET ancestry of " + id + " (not a non-empty array)", *r);
    }
    std::vector<std::string>& ids = result.ancestry[tag];
    for (const auto& a : ancestry) {
      if (!a.is_string()) return Unexpected("GET ancestry (non-string)", *r);
      ids.push_back(a.get<std::string>());
    }
    if (ids.front() != id) {
      return Unexpected("GET ancestry of " + id + " (does not start with it)", *r);
    }
    // Root first.
    for (size_t k = ids.size(); k-- > 0;) {
      const std::string& image_id = ids[k];
      const std::string expected_parent = k + 1 < ids.size() ? ids[k + 1] : "";
      if (result.images.count(image_id)) continue;
      PulledImage pulled;
      pulled.id = image_id;
      r = client.GetImageJson(image_id);
      if (!r.ok()) return r.status();
      if (r->status != 200) return Unexpected("GET json of " + image_id, *r);
      pulled.json = std::move(r->body);
      pulled.json_response = *std::move(r);
      pulled.json_response.body.clear();
      auto j = nlohmann::json::parse(pulled.json, nullptr, false);
      if (!j.is_object() || j.value("id", "") != image_id) {
        return absl::FailedPreconditionError(
            absl::StrCat("json of ", image_id, " has another id: ", pulled.json));
      }
      std::string parent =
          j.contains("parent") && j["parent"].is_string() ? j["parent"].get<std::string>() : "";
      if (parent != expected_parent) {
        return absl::FailedPreconditionError(
            absl::StrCat("json of ", image_id, " names parent '", parent,
                         "' but the ancestry says '", expected_parent, "'"));
      }
      r = client.GetLayer(image_id);
      if (!r.ok()) return r.status();
      if (r->status != 200) return Unexpected("GET layer of " + image_id, *r);
      pulled.layer = std::move(r->body);
      pulled.layer_response = *std::move(r);
      pulled.layer_response.body.clear();
      std::string size = pulled.json_response.Header("X-Docker-Size").value_or("");
      if (size != std::to_string(pulled.layer.size())) {
        return absl::FailedPreconditionError(
            absl::StrCat("X-Docker-Size of ", image_id, " is '", size, "' but the layer has ",
                         pulled.layer.size(), " bytes"));
      }
      std::string payload =
          pulled.json_response.Header("X-Docker-Checksum-Payload").value_or("");
      std::string computed = PayloadChecksum(pulled.json, pulled.layer);
      if (payload != computed) {
        return absl::FailedPreconditionError(
            absl::StrCat("X-Docker-Checksum-Payload of ", image_id, " is '", payload,
                         "' but the pulled bytes give ", computed));
      }
      result.order.push_back(image_id);
      result.images.emplace(image_id, std::move(pulled));
    }
  }
  return result;
}

absl::StatusOr<IndexPullResult> PullIndexAndVerify(const RegistryClient& index,
                                                  const std::string& repo,
                                                  const std::string& tags_repo) {
  IndexPullResult result;
  absl::StatusOr<HttpResponse> r = index.Ping();
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unexpected("GET /v1/_ping", *r);
  r = index.GetImageList(repo);
  if (!r.ok()) return r.status();
  if (r->status != 200) return Unexpected("GET /v1/repositories/" + repo + "/images", *r);
  std::optional<std::string> token = r->Header("X-Docker-Token");
  if (!token || token->empty()) {
    return Unexpected("GET /v1/repositories/" + repo + "/images without X-Docker-Token",
                      *r);
  }
  result.token = *token;
  result.endpoints = r->Header("X-Docker-Endpoints").value_or("");
  result.image_list = r->body;
  RegistryClient registry = index;
  if (!result.endpoints.empty()) {
    absl::StatusOr<RegistryClient> ep =
        RegistryClient::FromUrl(result.endpoints.substr(0, result.endpoints.find(',')));
    if (!ep.ok()) return ep.status();
    registry = *ep;
    registry.set_timeout(index.timeout());
  }
  registry.set_index_auth("");
  registry.set_token(*token);
  absl::StatusOr<PullResult> pull =
      PullAndVerify(registry, tags_repo.empty() ? repo : tags_repo);
  if (!pull.ok()) return pull.status();
  result.pull = *std::move(pull);
  return result;
}

}  // namespace berth::testing
