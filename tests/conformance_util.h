// Helpers for the conformance tests (tests/conformance_*_test.cc): starting
// `berth serve` with extra flags, a raw socket for the cases HttpFetch
// cannot express (HEAD bodies, stalls, keep-alive, half-sent requests),
// image builders and the observation of an image's upload state (spec §4).
#ifndef BERTH_TESTS_CONFORMANCE_UTIL_H_
#define BERTH_TESTS_CONFORMANCE_UTIL_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"

namespace berth::testing {

#define EXPECT_JSON_ERROR(response, status, message)                  \
  do {                                                                \
    std::string why_;                                                 \
    EXPECT_TRUE(IsJsonError((response), (status), (message), &why_))  \
        << why_;                                                      \
  } while (0)

// The response, or an empty one (status 0) after recording a failure.
HttpResponse Must(const absl::StatusOr<HttpResponse>& r);

// The berth binary: $BERTH_BIN if set (to test a given build), else the
// runfile tools/berth.
std::string BerthBinary();

// `berth serve --listen 127.0.0.1:<port> --data <data> <extra...>`, log to
// `log_path`; returns once it answers the ping (error with the log tail if
// it exits or does not answer within `timeout`).
absl::StatusOr<std::unique_ptr<Process>> StartServeWith(
    int port, const std::string& data, const std::string& log_path,
    const std::vector<std::string>& extra,
    absl::Duration timeout = absl::Seconds(20));

// A blocking TCP connection to 127.0.0.1:port with a per-call deadline.
class RawConn {
 public:
  static absl::StatusOr<std::unique_ptr<RawConn>> Connect(int port);
  ~RawConn();
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  absl::Status Send(absl::string_view data);
  // Reads one response: the header block, then a body framed by
  // Content-Length (none for HEAD, 204, 304). `extra` gets any bytes that
  // arrived after it (e.g. a body sent in answer to HEAD, if the server
  // then closed).
  absl::StatusOr<HttpResponse> ReadResponse(bool head,
                                            absl::Duration timeout = absl::Seconds(10));
  // Waits until the server closes the connection (EOF or reset). Returns
  // everything received until then; DEADLINE_EXCEEDED if still open.
  absl::StatusOr<std::string> ReadUntilClosed(absl::Duration timeout);
  // Bytes received but not consumed by ReadResponse.
  const std::string& pending() const { return buf_; }
  int fd() const { return fd_; }

 private:
  explicit RawConn(int fd) : fd_(fd) {}
  // Appends what arrives to buf_; false on EOF/reset; DEADLINE_EXCEEDED.
  absl::StatusOr<bool> Fill(absl::Time deadline);
  int fd_;
  std::string buf_;
};

// Sends `request` (complete, e.g. with Connection: close) on a new
// connection and returns everything the server sent until it closed.
absl::StatusOr<std::string> RawRoundTrip(int port, const std::string& request,
                                         absl::Duration timeout = absl::Seconds(10));

// PUTs `body` to `path` with Content-Length and Connection: close on a raw
// socket, sending as much as the server takes (a server may answer early,
// e.g. 413 before reading an oversize body, and close: then a plain client
// fails with EPIPE), and returns the answer.
absl::StatusOr<HttpResponse> PutExpectingEarlyAnswer(
    int port, const std::string& path, const std::string& body,
    absl::Duration timeout = absl::Seconds(10));

// Sends `head` and a partial body, half-closes (the server sees the body cut
// off) and returns what the server answered until it closed. Unlike
// RegistryClient::SendCutOff it tolerates a server that answers early and
// resets the connection (e.g. 404 before reading the body).
absl::StatusOr<std::string> SendCutOffTolerant(int port, const std::string& head,
                                               const std::string& partial_body);

// Splits a raw answer into status/headers and the bytes after the header
// block (`rest`).
absl::StatusOr<HttpResponse> ParseHead(const std::string& raw, std::string* rest);

// A request head: "<method> <path> HTTP/1.1" with Host, the given headers,
// and the empty line.
std::string RequestHead(const std::string& method, const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& headers);

// HEAD `path` answers GET's status and headers (Date, X-Request-Id, and the
// clock-based Expires of cacheable answers excepted), Content-Length = the
// GET body's length, and no body on the wire (checked on a raw socket).
void ExpectHeadMatchesGet(
    int port, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers = {});

// An image with verbatim json and layer bytes.
struct Image {
  std::string id;
  std::string json;
  std::string layer;
  std::string payload() const { return PayloadChecksum(json, layer); }
};

// `n` reproducible pseudo-random (incompressible) bytes from `seed`.
std::string RandomBytes(size_t n, uint64_t seed);

// A chain of images, base first, one per entry of `layer_sizes`: image k is
// Synthetic("<seed>-<k>-<pid>", parent) with RandomBytes(layer_sizes[k])
// seeded from `seed` and k (unique per test process, reproducible within).
std::vector<PushImage> RandomChain(const std::string& seed,
                                   const std::vector<size_t>& layer_sizes);

// id = sha256(seed); json {"id":…[,"parent":…]}; the given layer.
Image Synthetic(const std::string& seed, const std::string& parent = "",
                const std::string& layer = "synthetic layer bytes");

// PUT json, PUT layer (chunked or Content-Length), PUT checksum; each must
// answer 200 `true` (failures recorded, false returned).
bool PushComplete(const RegistryClient& c, const Image& image, bool chunked = false,
                  const std::string& client_tarsum = "");

enum class State { kAbsent, kJsonUploaded, kLayerUploaded, kComplete };
const char* StateName(State s);

// Brings a fresh `image` into `state` (layer = image.layer where needed).
void Reach(const RegistryClient& c, const Image& image, State state);

// Checks from outside that `image` is in `state`. For kLayerUploaded, the
// stored layer must be `layer`; the check confirms its checksum, so the
// image ends COMPLETE. For kComplete, json and layer must be `json`/`layer`.
// For kJsonUploaded, checksums of `not_layers` must be refused (the image
// stays JSON_UPLOADED).
void ExpectState(const RegistryClient& c, const std::string& id, State state,
                 const std::string& json, const std::string& layer,
                 const std::vector<std::string>& not_layers = {});

// Parses Prometheus text: "name{labels}" (as rendered) -> value.
std::map<std::string, double> ParseMetrics(const std::string& text);
// GET /metrics on the admin port.
absl::StatusOr<std::map<std::string, double>> FetchMetrics(int admin_port);

// The text of a file ("" if unreadable).
std::string ReadFileOrEmpty(const std::string& path);

}  // namespace berth::testing

#endif  // BERTH_TESTS_CONFORMANCE_UTIL_H_
