// An in-memory v1 index + registry in INDEX mode with tokens and a session
// cookie, for unit tests of the client's §1.3–§1.5 behaviour (Berth's
// server does not implement index mode yet). One thread accepts and serves
// connections one request each; the request log is guarded by a mutex.
#ifndef BERTH_TOOLS_V1CLIENT_FAKE_INDEX_H_
#define BERTH_TOOLS_V1CLIENT_FAKE_INDEX_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace berth::v1client::testing {

struct LoggedRequest {
  std::string method;
  std::string target;
  std::string authorization;
  std::string cookie;
  std::string endpoints;  // X-Docker-Endpoints request header
};

class FakeIndex {
 public:
  FakeIndex(const FakeIndex&) = delete;
  FakeIndex& operator=(const FakeIndex&) = delete;
  // Accounts: user -> password. Starts listening on 127.0.0.1:<free port>.
  explicit FakeIndex(std::map<std::string, std::string> accounts);
  ~FakeIndex();

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<LoggedRequest> log() const;

  // The Authorization registry calls must carry: the two X-Docker-Token
  // lines the index hands out, joined as docker does.
  static std::string ExpectedTokenHeader(const std::string& repo, const std::string& access);

 private:
  struct Image {
    std::string json, layer, checksum;
    bool complete = false;
  };
  void Serve();
  void Handle(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<std::string, std::string> accounts_;
  // Owned by the serving thread, except log_ (under mu_).
  std::map<std::string, Image> images_;
  std::map<std::string, std::map<std::string, std::string>> tags_;
  mutable std::mutex mu_;
  std::vector<LoggedRequest> log_;
};

}  // namespace berth::v1client::testing

#endif  // BERTH_TOOLS_V1CLIENT_FAKE_INDEX_H_
