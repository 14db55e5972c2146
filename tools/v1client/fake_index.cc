#include "tools/v1client/fake_index.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"
#include "nlohmann/json.hpp"

namespace berth::v1client::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string Normalize(std::string name) {
  return absl::StrContains(name, '/') ? name : "library/" + name;
}

}  // namespace

std::string FakeIndex::ExpectedTokenHeader(const std::string& repo, const std::string& access) {
  return absl::StrCat("Token signature=fake.", access, ",repository=\"", repo, "\",access=",
                      access);
}

FakeIndex::FakeIndex(std::map<std::string, std::string> accounts)
    : accounts_(std::move(accounts)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  ::listen(listen_fd_, 16);
  thread_ = std::thread([this] { Serve(); });
}

FakeIndex::~FakeIndex() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::vector<LoggedRequest> FakeIndex::log() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

void FakeIndex::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd >= 0) Handle(fd);
  }
}

void FakeIndex::Handle(int fd) {
  asio::io_context io;
  asio::ip::tcp::socket sock(io, asio::ip::tcp::v4(), fd);
  beast::flat_buffer buf;
  http::request_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code ec;
  http::read(sock, buf, parser, ec);
  if (ec) return;
  const auto& req = parser.get();
  LoggedRequest lr{std::string(req.method_string()), std::string(req.target()),
                   std::string(req["Authorization"]), std::string(req["Cookie"]),
                   std::string(req["X-Docker-Endpoints"])};
  {
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back(lr);
  }
  http::response<http::string_body> res;
  res.version(11);
  res.keep_alive(false);
  res.set(http::field::content_type, "application/json");
  auto answer = [&](int status, const std::string& body) {
    res.result(static_cast<unsigned>(status));
    res.body() = body;
  };
  auto basic_ok = [&] {
    absl::string_view auth = lr.authorization;
    if (!absl::ConsumePrefix(&auth, "Basic ")) return false;
    std::string decoded;
    if (!absl::Base64Unescape(auth, &decoded)) return false;
    size_t colon = decoded.find(':');
    auto it = accounts_.find(decoded.substr(0, colon));
    return colon != std::string::npos && it != accounts_.end() &&
           it->second == decoded.substr(colon + 1);
  };
  const std::string m = lr.method;
  std::string path = lr.target.substr(0, lr.target.find('?'));
  std::vector<std::string> seg = absl::StrSplit(path, '/', absl::SkipEmpty());

  if (path == "/v1/_ping") {
    res.set("X-Docker-Registry-Standalone", "false");
    answer(200, "true");
  } else if (path == "/v1/users/" && m == "GET") {
    basic_ok() ? answer(200, "\"OK\"") : answer(401, R"({"error":"wrong"})");
  } else if (seg.size() >= 3 && seg[1] == "repositories" &&
             (absl::EndsWith(path, "/images") || (m == "PUT" && absl::EndsWith(lr.target, "/")))) {
    // Index calls: Basic (or anonymous reads), never tokens.
    bool images = absl::EndsWith(path, "/images");
    std::string name = images ? path.substr(17, path.size() - 17 - 7) : path.substr(17, path.size() - 18);
    std::string repo = Normalize(name);
    bool write = m == "PUT";
    if (write && !basic_ok()) {
      answer(401, R"({"error":"Requires authorization"})");
    } else if (images && m == "PUT") {
      answer(204, "");
    } else if (images && m == "GET" && !tags_.count(repo)) {
      answer(404, R"({"error":"images not found"})");
    } else {
      std::string access = write ? "write" : "read";
      // Two header lines: docker joins all of them after one "Token ".
      res.insert("X-Docker-Token",
                 absl::StrCat("signature=fake.", access, ",repository=\"", repo, "\""));
      res.insert("X-Docker-Token", "access=" + access);
      res.set("X-Docker-Endpoints", absl::StrCat("127.0.0.1:", port_));
      answer(200, images ? "[]" : "\"\"");
    }
  } else {
    // Registry calls: only the joined token (for any repository here) or
    // the session cookie the first token-authorised call set.
    bool token = absl::StartsWith(lr.authorization, "Token signature=fake.");
    bool cookie = lr.cookie == "session=fake-session";
    if (!token && !cookie) {
      res.set("WWW-Authenticate", "Token");
      answer(401, R"({"error":"Requires authorization"})");
    } else {
      if (token && !cookie) res.set("Set-Cookie", "session=fake-session; Path=/; HttpOnly");
      std::string id = seg.size() >= 3 && seg[1] == "images" ? seg[2] : "";
      std::string what = seg.size() >= 4 ? seg[3] : "";
      Image* img = images_.count(id) ? &images_[id] : nullptr;
      if (!id.empty() && m == "GET" && (img == nullptr || !img->complete)) {
        answer(404, R"({"error":"Image not found"})");
      } else if (!id.empty() && m == "PUT" && what == "json") {
        images_[id] = Image{req.body(), "", "", false};
        answer(200, "true");
      } else if (!id.empty() && m == "PUT" && what == "layer" && img != nullptr) {
        img->layer = req.body();
        img->checksum = "sha256:" + Sha256Hex(img->json + "\n" + img->layer);
        answer(200, "true");
      } else if (!id.empty() && m == "PUT" && what == "checksum" && img != nullptr) {
        bool match = std::string(req["X-Docker-Checksum-Payload"]) == img->checksum;
        img->complete = match;
        match ? answer(200, "true") : answer(400, R"({"error":"Checksum mismatch"})");
      } else if (!id.empty() && what == "json") {
        res.set("X-Docker-Size", std::to_string(img->layer.size()));
        res.set("X-Docker-Checksum-Payload", img->checksum);
        answer(200, img->json);
      } else if (!id.empty() && what == "layer") {
        res.set(http::field::content_type, "application/octet-stream");
        answer(200, img->layer);
      } else if (!id.empty() && what == "ancestry") {
        nlohmann::json a = nlohmann::json::array();
        for (std::string cur = id; !cur.empty();) {
          a.push_back(cur);
          nlohmann::json j = nlohmann::json::parse(images_[cur].json, nullptr, false);
          cur = j.is_object() && j.contains("parent") ? j["parent"].get<std::string>() : "";
        }
        answer(200, a.dump());
      } else if (seg.size() >= 4 && seg[1] == "repositories") {
        size_t t = path.find("/tags");
        std::string repo = Normalize(path.substr(17, t - 17));
        if (m == "PUT" && seg.size() >= 5) {
          tags_[repo][seg.back()] = nlohmann::json::parse(req.body()).get<std::string>();
          answer(200, "true");
        } else if (!tags_.count(repo)) {
          answer(404, R"({"error":"Repository not found"})");
        } else {
          answer(200, nlohmann::json(tags_[repo]).dump());
        }
      } else {
        answer(404, R"({"error":"Not found"})");
      }
    }
  }
  res.prepare_payload();
  http::write(sock, res, ec);
  sock.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace berth::v1client::testing
