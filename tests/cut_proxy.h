// A userspace TCP proxy for tests that cuts chosen HTTP responses short:
// every connection is forwarded to 127.0.0.1:<upstream>; for requests
// whose request line contains a rule's text, only the first `cut_after`
// bytes of the response are passed on, then both sides are closed (the
// client sees a connection cut mid-body). One request per connection is
// assumed (the v1 client sends Connection: close).
//
// Threads: one acceptor plus one per connection, all joined by the
// destructor; the rules and the request log are guarded by a mutex.
#ifndef BERTH_TESTS_CUT_PROXY_H_
#define BERTH_TESTS_CUT_PROXY_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::testing {

struct ProxiedRequest {
  std::string request_line;  // "GET /v1/images/<id>/layer HTTP/1.1"
  std::string range;         // the Range header, "" if none
  uint64_t response_bytes = 0;  // bytes passed to the client (head included)
  bool cut = false;
};

class CutProxy {
 public:
  explicit CutProxy(int upstream_port);
  ~CutProxy();
  CutProxy(const CutProxy&) = delete;
  CutProxy& operator=(const CutProxy&) = delete;

  int port() const { return port_; }
  // Cut the responses of the next `times` requests (-1: all) whose request
  // line contains `needle` after `cut_after` bytes.
  void AddRule(const std::string& needle, uint64_t cut_after, int times);
  void ClearRules();
  // Requests whose connection has finished, in order of completion.
  std::vector<ProxiedRequest> log() const;
  void ClearLog();

 private:
  struct Rule {
    std::string needle;
    uint64_t cut_after;
    int times;
  };
  void Accept();
  void Serve(int client);

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;  // joined in the destructor
  std::vector<Rule> rules_;
  std::vector<ProxiedRequest> log_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_CUT_PROXY_H_
