#include "common/options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace berth {

void AddCommonOptions(CLI::App* app, CommonOptions* options) {
  // The last value wins, so a command-line flag overrides the same flag
  // from --config (options added after this call inherit the policy).
  app->option_defaults()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--log-level", options->log_level,
                  "trace, debug, info, warn, error, critical or off")
      ->capture_default_str();
  // Read by ExpandConfigFile() before parsing; declared here for --help.
  app->add_option("--config", options->config_file,
                  "read options from this file: `flag = value` lines using "
                  "the long flag names without dashes; command-line flags "
                  "win; # starts a comment; [section] lines are ignored");
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not host:port"));
  }
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' has no valid port (0..65535)"));
  }
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

absl::StatusOr<std::vector<std::string>> ExpandConfigFile(
    const std::vector<std::string>& args) {
  std::vector<std::string> out;
  std::string file;
  size_t insert_at = args.empty() ? 0 : 1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config" && i + 1 < args.size()) {
      file = args[i + 1];
      out.push_back(a);
      out.push_back(args[++i]);
      continue;
    }
    if (absl::StartsWith(a, "--config=")) file = a.substr(9);
    // Subcommand names come before any flag: options from the file go
    // right after them (so later command-line flags override the file).
    if (i >= 1 && i == insert_at && !absl::StartsWith(a, "-")) {
      insert_at = i + 1;
    }
    out.push_back(a);
  }
  if (file.empty()) return out;
  std::ifstream in(file);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --config file '", file, "'"));
  }
  std::vector<std::string> from_file;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#' || l[0] == ';' || l[0] == '[') continue;
    size_t eq = l.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--config file '", file, "' line ", n, ": expected `flag = value`"));
    }
    std::string key(absl::StripAsciiWhitespace(l.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(l.substr(eq + 1)));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (key.empty() || key == "config") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--config file '", file, "' line ", n, ": bad flag name"));
    }
    from_file.push_back(absl::StrCat("--", key, "=", value));
  }
  out.insert(out.begin() + std::min(insert_at, out.size()), from_file.begin(),
             from_file.end());
  return out;
}

absl::Status CheckListenable(const HostPort& address) {
  sockaddr_storage storage{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, address.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, address.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    len = sizeof(*v6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot listen on ", address.ToString(), ": not an IP address"));
  }
  int fd = socket(storage.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&storage), len);
  int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address.ToString(), ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::Status EnsureDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot create data directory '", dir, "': ", ec.message()));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("data directory '", dir, "' is not a directory"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data directory '", dir, "' is not writable"));
  }
  return absl::OkStatus();
}

}  // namespace berth
