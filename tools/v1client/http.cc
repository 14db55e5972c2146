#include "tools/v1client/http.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <limits>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace berth::v1client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr size_t kReadPiece = 64 * 1024;

absl::Status TransportError(const std::string& what, const Url& url,
                            const boost::system::error_code& ec) {
  std::string msg = absl::StrCat(what, " ", url.HostPort(), ": ", ec.message());
  if (ec == asio::error::timed_out || ec == asio::error::would_block ||
      ec == asio::error::try_again) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, " ", url.HostPort(), ": timed out"));
  }
  return absl::UnavailableError(msg);
}

void SetTimeouts(tcp::socket& s, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool HasHeader(const Headers& h, absl::string_view name) {
  for (const auto& [k, v] : h) {
    if (absl::EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

}  // namespace

std::string Url::HostPort() const { return absl::StrCat(host, ":", port); }
std::string Url::Origin() const {
  return absl::StrCat(scheme, "://", HostPort());
}

absl::StatusOr<Url> ParseUrl(absl::string_view text) {
  Url u;
  absl::string_view rest = text;
  size_t scheme_end = rest.find("://");
  if (scheme_end != absl::string_view::npos) {
    u.scheme = absl::AsciiStrToLower(rest.substr(0, scheme_end));
    rest.remove_prefix(scheme_end + 3);
  }
  if (u.scheme != "http" && u.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported URL scheme in \"", text, "\""));
  }
  u.port = u.scheme == "https" ? 443 : 80;
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) u.path = std::string(rest.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon != absl::string_view::npos &&
      authority.find(']') == absl::string_view::npos) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad port in URL \"", text, "\""));
    }
    u.port = static_cast<uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host in URL \"", text, "\""));
  }
  u.host = std::string(authority);
  return u;
}

std::optional<std::string> HttpResponse::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> HttpResponse::HeaderValues(absl::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) out.push_back(v);
  }
  return out;
}

namespace {

// The request and response over a connected `sock` (tcp::socket, or a TLS
// stream after its handshake).
template <class Stream>
absl::StatusOr<HttpResponse> Exchange(Stream& sock, const HttpCall& call);

// TLS 1.2+ client handshake on `sock`, verifying the server's certificate
// against call.ca_file (or the system CAs) and url.host.
absl::StatusOr<HttpResponse> SendTls(tcp::socket& sock, const HttpCall& call) {
  const Url& url = call.url;
  boost::system::error_code ec;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  if (call.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(call.ca_file, ec);
  }
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA file '", call.ca_file, "': ", ec.message()));
  }
  ctx.set_verify_mode(ssl::verify_peer);
  ssl::stream<tcp::socket&> stream(sock, ctx);
  in_addr ip4;
  in6_addr ip6;
  if (inet_pton(AF_INET, url.host.c_str(), &ip4) == 1 ||
      inet_pton(AF_INET6, url.host.c_str(), &ip6) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(stream.native_handle()),
                                  url.host.c_str());
  } else {
    SSL_set1_host(stream.native_handle(), url.host.c_str());
    SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
  }
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return TransportError("TLS handshake with", url, ec);
  return Exchange(stream, call);
}

}  // namespace

absl::StatusOr<HttpResponse> Send(const HttpCall& call) {
  const Url& url = call.url;
  asio::io_context io;
  tcp::socket sock(io);
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
  if (ec) return TransportError("cannot resolve", url, ec);
  // SO_SNDTIMEO also bounds a blocking connect on Linux, so set it first.
  sock.open(endpoints.begin()->endpoint().protocol(), ec);
  if (ec) return TransportError("cannot connect to", url, ec);
  SetTimeouts(sock, call.timeout);
  sock.connect(endpoints.begin()->endpoint(), ec);
  if (ec) return TransportError("cannot connect to", url, ec);
  if (url.scheme == "https") return SendTls(sock, call);
  return Exchange(sock, call);
}

namespace {

template <class Stream>
absl::StatusOr<HttpResponse> Exchange(Stream& sock, const HttpCall& call) {
  const Url& url = call.url;
  boost::system::error_code ec;

  std::string head = absl::StrCat(call.method, " ", url.path, " HTTP/1.1\r\n");
  absl::StrAppend(&head, "Host: ", url.port == 80 ? url.host : url.HostPort(),
                  "\r\n");
  if (!HasHeader(call.headers, "User-Agent")) {
    absl::StrAppend(&head, "User-Agent: ", call.user_agent, "\r\n");
  }
  absl::StrAppend(&head, "Connection: close\r\n");
  for (const auto& [k, v] : call.headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  if (call.source) {
    absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n");
  } else if (!call.body.empty() || call.method == "PUT" || call.method == "POST") {
    absl::StrAppend(&head, "Content-Length: ", call.body.size(), "\r\n");
  }
  head += "\r\n";

  // A server may answer (and close) before it has read the whole body, e.g.
  // 404 for a layer of an unknown image: then the write fails but the
  // answer is still there to read, so a write error is only reported if no
  // response can be read.
  absl::Status write_status;
  asio::write(sock, asio::buffer(head), ec);
  if (!ec) {
    if (call.source) {
      for (;;) {
        absl::StatusOr<std::string> piece = call.source();
        if (!piece.ok()) return piece.status();  // our side failed: abort
        std::string frame =
            piece->empty() ? std::string("0\r\n\r\n")
                           : absl::StrCat(absl::Hex(piece->size()), "\r\n",
                                          *piece, "\r\n");
        asio::write(sock, asio::buffer(frame), ec);
        if (ec || piece->empty()) break;
      }
    } else if (!call.body.empty()) {
      asio::write(sock, asio::buffer(call.body), ec);
    }
  }
  if (ec) write_status = TransportError("sending to", url, ec);

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  // Not boost::none: Boost 1.74 compares Content-Length against an empty
  // optional as "exceeded".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.header_limit(64 * 1024);
  if (call.head) parser.skip(true);
  bhttp::read_header(sock, buffer, parser, ec);
  if (ec) {
    if (!write_status.ok()) return write_status;
    return TransportError("no response from", url, ec);
  }
  HttpResponse resp;
  resp.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    resp.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  if (call.on_head) {
    if (absl::Status s = call.on_head(resp); !s.ok()) return s;
  }
  bool to_sink = call.sink && resp.status >= 200 && resp.status < 300;
  std::string piece(kReadPiece, '\0');
  uint64_t received = 0;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    bhttp::read(sock, buffer, parser, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    size_t n = piece.size() - parser.get().body().size;
    if (n > 0) {
      received += n;
      if (to_sink) {
        absl::Status s = call.sink(absl::string_view(piece.data(), n));
        if (!s.ok()) return s;
      } else {
        resp.body.append(piece.data(), n);
      }
    }
    if (ec) {
      return TransportError(
          absl::StrCat("connection cut after ", received, " body bytes from"),
          url, ec);
    }
  }
  return resp;
}

}  // namespace
}  // namespace berth::v1client
