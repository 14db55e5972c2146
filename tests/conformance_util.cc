#include "tests/conformance_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "tests/berth_serve.h"

namespace berth::testing {

HttpResponse Must(const absl::StatusOr<HttpResponse>& r) {
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : HttpResponse{};
}

std::string BerthBinary() {
  const char* env = std::getenv("BERTH_BIN");
  if (env != nullptr && *env != '\0') return env;
  return RunfilePath("tools/berth");
}

absl::StatusOr<std::unique_ptr<Process>> StartServeWith(
    int port, const std::string& data, const std::string& log_path,
    const std::vector<std::string>& extra, absl::Duration timeout) {
  return StartServeBinary(BerthBinary(), port, data, log_path, extra, timeout);
}

// ---------------------------------------------------------------------------
// RawConn

absl::StatusOr<std::unique_ptr<RawConn>> RawConn::Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    std::string err = strerror(errno);
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect :", port, ": ", err));
  }
  return std::unique_ptr<RawConn>(new RawConn(fd));
}

RawConn::~RawConn() {
  if (fd_ >= 0) close(fd_);
}

absl::Status RawConn::Send(absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> RawConn::Fill(absl::Time deadline) {
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("nothing more from the server in time");
    }
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char tmp[65536];
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ECONNRESET) return false;
    return absl::UnavailableError(absl::StrCat("recv: ", strerror(errno)));
  }
}

absl::StatusOr<HttpResponse> RawConn::ReadResponse(bool head,
                                                   absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (buf_.find("\r\n\r\n") == std::string::npos) {
    absl::StatusOr<bool> more = Fill(deadline);
    if (!more.ok()) return more.status();
    if (!*more) {
      return absl::UnavailableError(
          absl::StrCat("connection closed before a full response header; got: ", buf_));
    }
  }
  std::string rest;
  absl::StatusOr<HttpResponse> r = ParseHead(buf_, &rest);
  if (!r.ok()) return r;
  buf_ = std::move(rest);
  if (head || r->status == 204 || r->status == 304) return r;
  size_t length = 0;
  std::optional<std::string> cl = r->Header("Content-Length");
  if (!cl.has_value() || !absl::SimpleAtoi(*cl, &length)) {
    return absl::InternalError("response without a usable Content-Length");
  }
  while (buf_.size() < length) {
    absl::StatusOr<bool> more = Fill(deadline);
    if (!more.ok()) return more.status();
    if (!*more) return absl::UnavailableError("connection closed mid-body");
  }
  r->body = buf_.substr(0, length);
  buf_.erase(0, length);
  return r;
}

absl::StatusOr<std::string> RawConn::ReadUntilClosed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<bool> more = Fill(deadline);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  std::string out;
  out.swap(buf_);
  return out;
}

absl::StatusOr<std::string> RawRoundTrip(int port, const std::string& request,
                                         absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<RawConn>> c = RawConn::Connect(port);
  if (!c.ok()) return c.status();
  absl::Status s = (*c)->Send(request);
  if (!s.ok()) return s;
  return (*c)->ReadUntilClosed(timeout);
}

absl::StatusOr<HttpResponse> PutExpectingEarlyAnswer(int port, const std::string& path,
                                                     const std::string& body,
                                                     absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<RawConn>> c = RawConn::Connect(port);
  if (!c.ok()) return c.status();
  std::string request =
      RequestHead("PUT", path,
                  {{"Content-Length", std::to_string(body.size())}, {"Connection", "close"}}) +
      body;
  (*c)->Send(request).IgnoreError();  // EPIPE/ECONNRESET after an early answer
  absl::StatusOr<std::string> raw = (*c)->ReadUntilClosed(timeout);
  if (!raw.ok()) return raw.status();
  std::string rest;
  absl::StatusOr<HttpResponse> r = ParseHead(*raw, &rest);
  if (!r.ok()) return r;
  size_t length = 0;
  if (absl::SimpleAtoi(r->Header("Content-Length").value_or(""), &length) &&
      rest.size() > length) {
    rest.resize(length);
  }
  r->body = rest;
  return r;
}

absl::StatusOr<std::string> SendCutOffTolerant(int port, const std::string& head,
                                               const std::string& partial_body) {
  absl::StatusOr<std::unique_ptr<RawConn>> c = RawConn::Connect(port);
  if (!c.ok()) return c.status();
  (*c)->Send(head + partial_body).IgnoreError();  // an early answer may reset
  ::shutdown((*c)->fd(), SHUT_WR);
  return (*c)->ReadUntilClosed(absl::Seconds(10));
}

absl::StatusOr<HttpResponse> ParseHead(const std::string& raw, std::string* rest) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) {
    return absl::InternalError(absl::StrCat("no complete header in: ", raw));
  }
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, end), "\r\n");
  std::vector<std::string> parts = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  HttpResponse r;
  if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") ||
      !absl::SimpleAtoi(parts[1], &r.status)) {
    return absl::InternalError(absl::StrCat("bad status line: ", lines[0]));
  }
  r.reason = parts.size() > 2 ? parts[2] : "";
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    r.headers.emplace_back(lines[i].substr(0, colon),
                           std::string(absl::StripAsciiWhitespace(
                               absl::string_view(lines[i]).substr(colon + 1))));
  }
  if (rest != nullptr) *rest = raw.substr(end + 4);
  return r;
}

std::string RequestHead(const std::string& method, const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  head += "\r\n";
  return head;
}

void ExpectHeadMatchesGet(
    int port, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  SCOPED_TRACE("HEAD vs GET " + path);
  auto with_close = headers;
  with_close.emplace_back("Connection", "close");
  absl::StatusOr<std::string> get_raw =
      RawRoundTrip(port, RequestHead("GET", path, with_close));
  ASSERT_TRUE(get_raw.ok()) << get_raw.status();
  std::string get_body;
  absl::StatusOr<HttpResponse> get = ParseHead(*get_raw, &get_body);
  ASSERT_TRUE(get.ok()) << get.status();
  absl::StatusOr<std::string> head_raw =
      RawRoundTrip(port, RequestHead("HEAD", path, with_close));
  ASSERT_TRUE(head_raw.ok()) << head_raw.status();
  std::string head_body;
  absl::StatusOr<HttpResponse> head = ParseHead(*head_raw, &head_body);
  ASSERT_TRUE(head.ok()) << head.status();

  EXPECT_EQ(head->status, get->status);
  EXPECT_EQ(head_body, "") << "HEAD answer carried a body";
  ASSERT_TRUE(get->Header("Content-Length").has_value()) << *get_raw;
  EXPECT_EQ(get->Header("Content-Length"), std::to_string(get_body.size()));
  EXPECT_EQ(head->Header("Content-Length"), std::to_string(get_body.size()))
      << "HEAD must carry the Content-Length of the GET body";
  auto skip = [](const std::string& name) {
    return absl::EqualsIgnoreCase(name, "Date") ||
           absl::EqualsIgnoreCase(name, "X-Request-Id");
  };
  for (const auto& [name, value] : get->headers) {
    std::optional<std::string> h = head->Header(name);
    EXPECT_TRUE(h.has_value()) << "HEAD lacks " << name;
    if (!h.has_value() || skip(name)) continue;
    if (absl::EqualsIgnoreCase(name, "Expires") && value != "-1") {
      // now + 1 year: may tick over a second between the two requests.
      EXPECT_TRUE(absl::EndsWith(*h, " GMT")) << *h;
      continue;
    }
    EXPECT_EQ(*h, value) << name;
  }
  EXPECT_EQ(head->headers.size(), get->headers.size());
}

// ---------------------------------------------------------------------------
// Images and states

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&out[i], &v, std::min<size_t>(8, n - i));
  }
  return out;
}

std::vector<PushImage> RandomChain(const std::string& seed,
                                   const std::vector<size_t>& layer_sizes) {
  std::vector<PushImage> chain;
  std::string parent;
  const uint64_t base = std::hash<std::string>()(seed);
  for (size_t k = 0; k < layer_sizes.size(); ++k) {
    Image img = Synthetic(absl::StrCat(seed, "-", k, "-", ::getpid()), parent,
                          RandomBytes(layer_sizes[k], base + k));
    chain.push_back({img.id, parent, img.json, img.layer, ""});
    parent = img.id;
  }
  return chain;
}

Image Synthetic(const std::string& seed, const std::string& parent,
                const std::string& layer) {
  Image i;
  i.id = Sha256Hex(seed);
  i.json = parent.empty()
               ? absl::StrCat("{\"id\":\"", i.id, "\"}")
               : absl::StrCat("{\"id\":\"", i.id, "\",\"parent\":\"", parent, "\"}");
  i.layer = layer;
  return i;
}

bool PushComplete(const RegistryClient& c, const Image& image, bool chunked,
                  const std::string& client_tarsum) {
  SCOPED_TRACE("push " + image.id);
  HttpResponse r = Must(c.PutImageJson(image.id, image.json));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  if (r.status != 200) return false;
  r = Must(chunked ? c.PutLayerChunked(image.id, image.layer, 777)
                   : c.PutLayer(image.id, image.layer));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  if (r.status != 200) return false;
  r = Must(c.PutChecksum(image.id, image.payload(), client_tarsum));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  return r.status == 200;
}

const char* StateName(State s) {
  switch (s) {
    case State::kAbsent: return "ABSENT";
    case State::kJsonUploaded: return "JSON_UPLOADED";
    case State::kLayerUploaded: return "LAYER_UPLOADED";
    case State::kComplete: return "COMPLETE";
  }
  return "?";
}

void Reach(const RegistryClient& c, const Image& image, State state) {
  SCOPED_TRACE(absl::StrCat("reach ", StateName(state)));
  if (state == State::kAbsent) return;
  HttpResponse r = Must(c.PutImageJson(image.id, image.json));
  ASSERT_EQ(r.status, 200) << r.body;
  if (state == State::kJsonUploaded) return;
  r = Must(c.PutLayer(image.id, image.layer));
  ASSERT_EQ(r.status, 200) << r.body;
  if (state == State::kLayerUploaded) return;
  r = Must(c.PutChecksum(image.id, image.payload()));
  ASSERT_EQ(r.status, 200) << r.body;
}

void ExpectState(const RegistryClient& c, const std::string& id, State state,
                 const std::string& json, const std::string& layer,
                 const std::vector<std::string>& not_layers) {
  SCOPED_TRACE(absl::StrCat("expect state ", StateName(state), " of ", id));
  constexpr char kUploading[] = "Image is being uploaded, retry later";
  switch (state) {
    case State::kAbsent:
      EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 404, "Image not found");
      EXPECT_JSON_ERROR(Must(c.GetLayer(id)), 404, "Image not found");
      EXPECT_JSON_ERROR(Must(c.GetAncestry(id)), 404, "Image not found");
      return;
    case State::kJsonUploaded:
      EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 400, kUploading);
      EXPECT_JSON_ERROR(Must(c.GetLayer(id)), 400, kUploading);
      EXPECT_JSON_ERROR(Must(c.GetAncestry(id)), 400, kUploading);
      for (const std::string& l : not_layers) {
        EXPECT_JSON_ERROR(Must(c.PutChecksum(id, PayloadChecksum(json, l))), 400,
                          "Checksum mismatch");
      }
      EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 400, kUploading);
      return;
    case State::kLayerUploaded: {
      EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 400, kUploading);
      EXPECT_JSON_ERROR(Must(c.GetLayer(id)), 400, kUploading);
      HttpResponse r = Must(c.PutChecksum(id, PayloadChecksum(json, layer)));
      EXPECT_EQ(r.status, 200) << "the stored layer is not the expected one: "
                               << r.body;
      break;  // now complete: check it like one
    }
    case State::kComplete:
      break;
  }
  HttpResponse r = Must(c.GetImageJson(id));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, json);
  EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"), PayloadChecksum(json, layer));
  EXPECT_EQ(r.Header("X-Docker-Size"), std::to_string(layer.size()));
  r = Must(c.GetLayer(id));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == layer) << "stored layer differs (" << r.body.size()
                               << " bytes, want " << layer.size() << ")";
}

std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    size_t sp = line.rfind(' ');
    if (sp == absl::string_view::npos) continue;
    double v = 0;
    if (!absl::SimpleAtod(line.substr(sp + 1), &v)) continue;
    out[std::string(line.substr(0, sp))] = v;
  }
  return out;
}

absl::StatusOr<std::map<std::string, double>> FetchMetrics(int admin_port) {
  absl::StatusOr<HttpResponse> r = HttpGet("127.0.0.1", admin_port, "/metrics");
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::InternalError(absl::StrCat("/metrics -> ", r->status));
  }
  return ParseMetrics(r->body);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace berth::testing
