// Push/pull load client for tests/bench/registry_bench.sh.
//
// One invocation prepares --streams distinct incompressible tar layers of
// --size bytes (fresh random content per --seed, so no registry can skip
// a write by deduplication), pushes them concurrently (one connection per
// stream), then pulls them back concurrently and checks the sha256 of every
// pulled byte against what was pushed. Preparation (random bytes, the
// client-side digests a push must declare) happens before the clock starts.
//
//   --flavor berth         v1: PUT json, PUT layer, PUT checksum; GET layer
//   --flavor distribution  v2: POST blobs/uploads/, PUT ?digest= (monolithic);
//                          GET blobs/<digest>
//
// With --pid, the server's CPU seconds (utime + stime from /proc/PID/stat,
// summed over every pid given) are measured around each phase. Prints one
// JSON object: {"push_mbps", "push_cpu_s", "pull_mbps", "pull_cpu_s",
// "bytes", "image_id"} (MB = 10^6 bytes). Exit status 1 on any failed
// request or mismatched byte.
//
// Threads: main prepares and joins; one thread per stream owns its socket
// and layer buffer for the duration of a phase.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"

namespace {

struct Args {
  std::string flavor = "berth";
  std::string host = "127.0.0.1";
  int port = 5000;
  int streams = 1;
  uint64_t size = 64ull << 20;
  uint64_t seed = 1;
  std::vector<int> pids;
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "registry_load: %s\n", msg.c_str());
  std::exit(1);
}

double CpuSeconds(const std::vector<int>& pids) {
  double total = 0;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (int pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
    // Fields after the ")" that ends the command name: state is field 3,
    // utime field 14, stime field 15.
    size_t close = all.rfind(')');
    if (close == std::string::npos) Die("cannot read /proc/" + std::to_string(pid));
    std::vector<std::string> f =
        absl::StrSplit(all.substr(close + 2), ' ', absl::SkipEmpty());
    uint64_t ut = 0, st = 0;
    if (f.size() < 13 || !absl::SimpleAtoi(f[11], &ut) ||
        !absl::SimpleAtoi(f[12], &st)) {
      Die("bad /proc/PID/stat");
    }
    total += (ut + st) / ticks;
  }
  return total;
}

// splitmix64: fast, incompressible enough for any compressor.
void FillRandom(char* p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(i * 131 + seed);
}

// A valid ustar archive of exactly `size` bytes (a multiple of 512, at
// least 2048): one regular file of random content and the two zero blocks.
std::string MakeTar(uint64_t size, uint64_t seed, const std::string& name) {
  std::string tar(size, '\0');
  const uint64_t content = size - 512 - 1024;
  char* h = tar.data();
  std::snprintf(h, 100, "%s", name.c_str());
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 108, 8, "%07o", 0);
  std::snprintf(h + 116, 8, "%07o", 0);
  std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(content));
  std::snprintf(h + 136, 12, "%011o", 1700000000);
  h[156] = '0';
  std::memcpy(h + 257, "ustar\0" "00", 8);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(h[i]);
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  FillRandom(tar.data() + 512, content, seed);
  return tar;
}

class Conn {
 public:
  Conn(const std::string& host, int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      Die(absl::StrCat("connect ", host, ":", port, ": ", strerror(errno)));
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Conn() { close(fd_); }

  void SendAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) Die(absl::StrCat("send: ", strerror(errno)));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  struct Response {
    int status = 0;
    std::string headers;  // lowercased
    std::string raw_headers;
    uint64_t length = 0;
    std::string body;  // only when kept
    std::string body_sha256;
  };

  // Sends a request (body may be large; sent from the caller's buffer),
  // reads the response. `hash_body`: stream the body through SHA-256
  // instead of keeping it.
  Response Do(const std::string& method, const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& headers,
              const char* body, size_t body_len, bool hash_body = false) {
    std::string req = absl::StrCat(method, " ", path,
                                   " HTTP/1.1\r\nHost: localhost\r\n");
    for (const auto& [k, v] : headers) absl::StrAppend(&req, k, ": ", v, "\r\n");
    if (body != nullptr || method == "PUT" || method == "POST") {
      absl::StrAppend(&req, "Content-Length: ", body_len, "\r\n");
    }
    req += "\r\n";
    SendAll(req.data(), req.size());
    if (body_len > 0) SendAll(body, body_len);
    return ReadResponse(method == "HEAD", hash_body);
  }

 private:
  Response ReadResponse(bool head, bool hash_body) {
    Response r;
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) Fill();
    r.raw_headers = in_.substr(0, end);
    in_.erase(0, end + 4);
    r.headers = absl::AsciiStrToLower(r.raw_headers);
    if (r.raw_headers.size() < 12 ||
        !absl::SimpleAtoi(r.raw_headers.substr(9, 3), &r.status)) {
      Die("bad status line: " + r.raw_headers.substr(0, 80));
    }
    size_t cl = r.headers.find("\r\ncontent-length:");
    if (cl != std::string::npos) {
      size_t eol = r.headers.find("\r\n", cl + 2);
      std::string v(absl::StripAsciiWhitespace(
          r.headers.substr(cl + 17, eol == std::string::npos
                                         ? std::string::npos
                                         : eol - cl - 17)));
      if (!absl::SimpleAtoi(v, &r.length)) Die("bad content-length");
    }
    if (head || r.status == 204 || r.status == 304) return r;
    berth::Sha256 hasher;
    uint64_t left = r.length;
    // Body bytes already buffered with the header.
    size_t take = static_cast<size_t>(std::min<uint64_t>(left, in_.size()));
    if (hash_body) {
      hasher.Update(in_.data(), take);
    } else {
      r.body.append(in_, 0, take);
    }
    in_.erase(0, take);
    left -= take;
    if (hash_body) {
      std::vector<char> buf(1 << 18);
      while (left > 0) {
        ssize_t n = recv(fd_, buf.data(),
                         static_cast<size_t>(std::min<uint64_t>(left, buf.size())), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) Die("connection closed in a response body");
        hasher.Update(buf.data(), static_cast<size_t>(n));
        left -= static_cast<uint64_t>(n);
      }
      r.body_sha256 = hasher.HexDigest();
    } else {
      while (left > 0) {
        Fill();
        take = static_cast<size_t>(std::min<uint64_t>(left, in_.size()));
        r.body.append(in_, 0, take);
        in_.erase(0, take);
        left -= take;
      }
    }
    return r;
  }

  void Fill() {
    char buf[65536];
    ssize_t n;
    do {
      n = recv(fd_, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) Die("connection closed in a response header");
    in_.append(buf, static_cast<size_t>(n));
  }

  int fd_ = -1;
  std::string in_;
};

std::string HeaderValue(const Conn::Response& r, const std::string& lower_name) {
  std::string key = "\r\n" + lower_name + ":";
  size_t at = r.headers.find(key);
  if (at == std::string::npos) return "";
  size_t start = at + key.size();
  size_t eol = r.headers.find("\r\n", start);
  // Same offsets in the raw (case-preserving) header block.
  return std::string(absl::StripAsciiWhitespace(r.raw_headers.substr(
      start, eol == std::string::npos ? std::string::npos : eol - start)));
}

struct Layer {
  std::string id;          // berth image id
  std::string json;        // berth image json
  std::string tar;
  std::string sha256;      // of the tar
  std::string payload;     // berth: sha256(json + "\n" + tar)
};

void Expect(const Conn::Response& r, int status, const std::string& what) {
  if (r.status != status) {
    Die(absl::StrCat(what, ": HTTP ", r.status, " (wanted ", status, ") ",
                     r.body.substr(0, 200)));
  }
}

void PushBerth(const Args& a, const Layer& l) {
  Conn c(a.host, a.port);
  Expect(c.Do("PUT", "/v1/images/" + l.id + "/json",
              {{"Content-Type", "application/json"}}, l.json.data(),
              l.json.size()),
         200, "PUT json");
  Expect(c.Do("PUT", "/v1/images/" + l.id + "/layer",
              {{"Content-Type", "application/octet-stream"}}, l.tar.data(),
              l.tar.size()),
         200, "PUT layer");
  Expect(c.Do("PUT", "/v1/images/" + l.id + "/checksum",
              {{"X-Docker-Checksum-Payload", l.payload}}, "", 0),
         200, "PUT checksum");
}

void PushDistribution(const Args& a, const Layer& l) {
  Conn c(a.host, a.port);
  Conn::Response r = c.Do("POST", "/v2/bench/blobs/uploads/", {}, "", 0);
  Expect(r, 202, "POST blobs/uploads/");
  std::string location = HeaderValue(r, "location");
  if (absl::StartsWith(location, "http://")) {
    location = location.substr(location.find('/', 7));
  }
  if (location.empty()) Die("no Location in upload answer");
  location += absl::StrContains(location, "?") ? "&" : "?";
  location += "digest=sha256:" + l.sha256;
  Expect(c.Do("PUT", location, {{"Content-Type", "application/octet-stream"}},
              l.tar.data(), l.tar.size()),
         201, "PUT blob");
}

void Pull(const Args& a, const Layer& l) {
  Conn c(a.host, a.port);
  std::string path = a.flavor == "berth"
                         ? "/v1/images/" + l.id + "/layer"
                         : "/v2/bench/blobs/sha256:" + l.sha256;
  Conn::Response r = c.Do("GET", path, {}, nullptr, 0, /*hash_body=*/true);
  Expect(r, 200, "GET layer");
  if (r.length != l.tar.size() || r.body_sha256 != l.sha256) {
    Die(absl::StrCat("pulled layer differs: ", r.length, " bytes, sha256 ",
                     r.body_sha256, " (pushed ", l.tar.size(), ", ", l.sha256,
                     ")"));
  }
}

template <class F>
double RunStreams(int n, F f) {
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      f(i);
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  auto start = std::chrono::steady_clock::now();
  go = true;
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    std::string v = i + 1 < argc ? argv[i + 1] : "";
    auto num = [&](auto* out) {
      if (!absl::SimpleAtoi(v, out)) Die("bad value for " + k);
      ++i;
    };
    if (k == "--flavor") { a.flavor = v; ++i; }
    else if (k == "--addr") {
      std::vector<std::string> hp = absl::StrSplit(v, ':');
      if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &a.port)) Die("--addr host:port");
      a.host = hp[0];
      ++i;
    }
    else if (k == "--streams") num(&a.streams);
    else if (k == "--size") num(&a.size);
    else if (k == "--seed") num(&a.seed);
    else if (k == "--pid") {
      for (absl::string_view p : absl::StrSplit(v, ',', absl::SkipEmpty())) {
        int pid;
        if (!absl::SimpleAtoi(p, &pid)) Die("bad --pid");
        a.pids.push_back(pid);
      }
      ++i;
    }
    else Die("unknown flag " + k);
  }
  if (a.flavor != "berth" && a.flavor != "distribution") Die("bad --flavor");
  if (a.size < 4096 || a.size % 512 != 0) Die("--size: multiple of 512, >= 4096");

  // Preparation, outside the clock.
  std::vector<Layer> layers(static_cast<size_t>(a.streams));
  for (int i = 0; i < a.streams; ++i) {
    Layer& l = layers[static_cast<size_t>(i)];
    const uint64_t seed = a.seed * 1000003ull + static_cast<uint64_t>(i);
    l.tar = MakeTar(a.size, seed, absl::StrCat("bench-", a.seed, "-", i, ".bin"));
    l.sha256 = berth::Sha256Hex(l.tar);
    l.id = berth::Sha256Hex(absl::StrCat("berth-bench-image-", seed, "-",
                                         getpid()));
    l.json = absl::StrCat("{\"id\": \"", l.id,
                          "\", \"created\": \"2024-01-01T00:00:00Z\", "
                          "\"comment\": \"registry_bench\", \"Size\": ",
                          a.size, "}");
    berth::Sha256 p;
    p.Update(l.json);
    p.Update("\n");
    p.Update(l.tar);
    l.payload = "sha256:" + p.HexDigest();
  }
  const double bytes = static_cast<double>(a.size) * a.streams;

  double cpu0 = a.pids.empty() ? 0 : CpuSeconds(a.pids);
  double push_s = RunStreams(a.streams, [&](int i) {
    const Layer& l = layers[static_cast<size_t>(i)];
    if (a.flavor == "berth") {
      PushBerth(a, l);
    } else {
      PushDistribution(a, l);
    }
  });
  double cpu1 = a.pids.empty() ? 0 : CpuSeconds(a.pids);
  double pull_s = RunStreams(a.streams, [&](int i) {
    Pull(a, layers[static_cast<size_t>(i)]);
  });
  double cpu2 = a.pids.empty() ? 0 : CpuSeconds(a.pids);

  std::printf(
      "{\"flavor\": \"%s\", \"streams\": %d, \"bytes\": %.0f, "
      "\"push_mbps\": %.1f, \"push_cpu_s\": %.3f, \"pull_mbps\": %.1f, "
      "\"pull_cpu_s\": %.3f, \"image_id\": \"%s\"}\n",
      a.flavor.c_str(), a.streams, bytes, bytes / push_s / 1e6, cpu1 - cpu0,
      bytes / pull_s / 1e6, cpu2 - cpu1, layers[0].id.c_str());
  return 0;
}
