#include "tools/image_cmd.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <iostream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tools/v1client/docker_archive.h"
#include "tools/v1client/files.h"
#include "tools/v1client/transfer.h"

namespace berth {
namespace {

using v1client::ImageReport;

// Flag values; filled by CLI11 on the main thread, read by RunImageCommands.
struct ImageFlags {
  CLI::App* push = nullptr;
  CLI::App* pull = nullptr;
  bool* json = nullptr;
  std::string archive, name, output, registry;
  std::string user, login_password, login_password_file;
  std::string password, password_file;
  bool encrypt = false;
  uint32_t kdf_iterations = 100000;
  int retries = 5;
  double timeout_s = 60;
  std::string ca_file;
};

ImageFlags& Flags() {
  static ImageFlags* f = new ImageFlags();
  return *f;
}

int ExitCode(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return 1;
    case absl::StatusCode::kInvalidArgument: return 2;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return 3;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return 4;
    default: return 5;
  }
}

int Fail(const char* verb, const absl::Status& s) {
  std::fprintf(stderr, "berthctl image %s: %s\n", verb, std::string(s.message()).c_str());
  if (*Flags().json) {
    std::cout << nlohmann::json{{"error", std::string(s.message())}}.dump() << "\n";
  }
  return ExitCode(s);
}

// A secret from --X or --X-file (first line, without the newline).
absl::StatusOr<std::optional<std::string>> Secret(const std::string& value,
                                                  const std::string& file,
                                                  const char* flag) {
  if (!value.empty() && !file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("give --", flag, " or --", flag, "-file, not both"));
  }
  if (!file.empty()) {
    absl::StatusOr<std::string> text = v1client::ReadFileToString(file);
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, "-file: ", text.status().message()));
    }
    std::string line = text->substr(0, text->find('\n'));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, "-file is empty"));
    return std::optional<std::string>(line);
  }
  if (!value.empty()) return std::optional<std::string>(value);
  return std::optional<std::string>();
}

// Per-layer progress on a terminal: bytes and rate, redrawn in place. Runs
// on the transfer thread (the only thread).
class Progress {
 public:
  void Update(const std::string& id, uint64_t done, uint64_t total, bool finished) {
    absl::Time now = absl::Now();
    if (id != id_) {
      id_ = id;
      start_ = now;
      last_ = absl::InfinitePast();
    }
    if (!finished && now - last_ < absl::Milliseconds(100)) return;
    last_ = now;
    double secs = std::max(absl::ToDoubleSeconds(now - start_), 1e-3);
    double mib = 1024.0 * 1024.0;
    std::string of = total > 0 ? absl::StrFormat(" / %.1f", total / mib) : "";
    std::fprintf(stderr, "\r%s: %.1f%s MiB  %.1f MiB/s   ", id.substr(0, 12).c_str(),
                 done / mib, of.c_str(), done / mib / secs);
    if (finished) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::string id_;
  absl::Time start_, last_;
};

absl::Status FillCommon(v1client::TransferOptions* o) {
  ImageFlags& f = Flags();
  absl::StatusOr<v1client::Url> url = v1client::ParseUrl(f.registry);
  if (!url.ok()) return absl::InvalidArgumentError(absl::StrCat("--registry: ", url.status().message()));
  o->registry = *url;
  absl::StatusOr<std::optional<std::string>> login =
      Secret(f.login_password, f.login_password_file, "login-password");
  if (!login.ok()) return login.status();
  if (login->has_value() && f.user.empty()) {
    return absl::InvalidArgumentError("--login-password needs --user");
  }
  if (!f.user.empty()) {
    if (!login->has_value()) {
      return absl::InvalidArgumentError("--user needs --login-password or --login-password-file");
    }
    o->login = {f.user, **login};
  }
  absl::StatusOr<std::optional<std::string>> pw = Secret(f.password, f.password_file, "password");
  if (!pw.ok()) return pw.status();
  o->password = *pw;
  o->timeout = absl::Seconds(f.timeout_s);
  o->ca_file = f.ca_file;
  if (isatty(STDERR_FILENO) && !*f.json) {
    auto progress = std::make_shared<Progress>();
    o->progress = [progress](const std::string& id, uint64_t done, uint64_t total, bool fin) {
      progress->Update(id, done, total, fin);
    };
  }
  return absl::OkStatus();
}

nlohmann::json ImagesJson(const std::vector<ImageReport>& images, bool pull) {
  nlohmann::json out = nlohmann::json::array();
  for (const ImageReport& r : images) {
    nlohmann::json j = {{"id", r.id}, {"size", r.size}, {"encrypted", r.encrypted},
                        {"transferred", r.transferred}};
    if (pull) {
      j["reused"] = r.skipped;
      j["resumed"] = r.resumed;
    } else {
      j["skipped"] = r.skipped;
    }
    out.push_back(j);
  }
  return out;
}

int RunPush() {
  ImageFlags& f = Flags();
  absl::StatusOr<v1client::RepoRef> ref = v1client::ParseRepoRef(f.name);
  if (!ref.ok()) return Fail("push", ref.status());
  v1client::PushOptions o;
  if (absl::Status s = FillCommon(&o); !s.ok()) return Fail("push", s);
  o.encrypt = f.encrypt;
  o.kdf_iterations = f.kdf_iterations;
  if (o.password.has_value() && !o.encrypt) {
    return Fail("push", absl::InvalidArgumentError("--password without --encrypt"));
  }
  absl::StatusOr<std::unique_ptr<v1client::DockerArchive>> archive =
      v1client::DockerArchive::Open(f.archive);
  if (!archive.ok()) return Fail("push", archive.status());
  absl::StatusOr<const v1client::ArchiveImage*> image = (*archive)->Select(ref->name, ref->tag);
  if (!image.ok()) return Fail("push", image.status());
  absl::StatusOr<v1client::PushReport> rep = v1client::Push(**image, *ref, o);
  if (!rep.ok()) return Fail("push", rep.status());
  size_t uploaded = 0;
  for (const auto& i : rep->images) uploaded += i.skipped ? 0 : 1;
  if (*f.json) {
    std::cout << nlohmann::json{{"action", "push"},
                                {"repository", ref->name},
                                {"tag", ref->tag},
                                {"registry", o.registry.Origin()},
                                {"layout", v1client::LayoutName((*archive)->layout())},
                                {"endpoints", rep->endpoints},
                                {"top", (*image)->chain.back().id},
                                {"encrypted", o.encrypt},
                                {"images", ImagesJson(rep->images, false)}}
                     .dump()
              << "\n";
  } else {
    std::printf("pushed %s:%s (%zu images, %zu uploaded, %zu already there)%s\n",
                ref->name.c_str(), ref->tag.c_str(), rep->images.size(), uploaded,
                rep->images.size() - uploaded, o.encrypt ? ", encrypted" : "");
  }
  return 0;
}

int RunPull() {
  ImageFlags& f = Flags();
  absl::StatusOr<v1client::RepoRef> ref = v1client::ParseRepoRef(f.name);
  if (!ref.ok()) return Fail("pull", ref.status());
  v1client::PullOptions o;
  if (absl::Status s = FillCommon(&o); !s.ok()) return Fail("pull", s);
  o.output = f.output;
  o.retries = f.retries;
  absl::StatusOr<v1client::PullReport> rep = v1client::Pull(*ref, o);
  if (!rep.ok()) return Fail("pull", rep.status());
  if (*f.json) {
    std::cout << nlohmann::json{{"action", "pull"},
                                {"repository", ref->name},
                                {"tag", ref->tag},
                                {"registry", o.registry.Origin()},
                                {"archive", o.output},
                                {"top", rep->top_id},
                                {"images", ImagesJson(rep->images, true)}}
                     .dump()
              << "\n";
  } else {
    std::printf("pulled %s:%s into %s (%zu images)\n", ref->name.c_str(), ref->tag.c_str(),
                o.output.c_str(), rep->images.size());
  }
  return 0;
}

void AddCommon(CLI::App* cmd, ImageFlags& f) {
  cmd->add_option("--registry", f.registry, "registry URL, e.g. http://127.0.0.1:5000")
      ->required();
  cmd->add_option("--user", f.user, "log in to the registry as this user (Basic)");
  cmd->add_option("--login-password", f.login_password, "password for --user");
  cmd->add_option("--login-password-file", f.login_password_file,
                  "file whose first line is the password for --user");
  cmd->add_option("--timeout", f.timeout_s, "idle timeout of each network operation, seconds")
      ->capture_default_str();
  cmd->add_flag("--json", *f.json, "print a JSON summary on stdout");
  cmd->add_option("--ca-file", f.ca_file,
                  "https registries: PEM CA file to verify the server with "
                  "(default: the system's trusted CAs)");
}

}  // namespace

void AddImageCommands(CLI::App* image_cmd, bool* json) {
  ImageFlags& f = Flags();
  f.json = json;
  if (CLI::Option* id = image_cmd->get_option_no_throw("id")) id->required(false);
  image_cmd->require_subcommand(0, 1);

  f.push = image_cmd->add_subcommand(
      "push", "push a `docker save` archive to a v1 registry (spec §5.2/§5.3)");
  f.push->add_option("archive", f.archive, "docker save archive (legacy, manifest.json or OCI)")
      ->required()
      ->check(CLI::ExistingFile);
  f.push->add_option("name", f.name, "NAME[:TAG] on the registry (tag default: latest)")
      ->required();
  AddCommon(f.push, f);
  f.push->add_flag("--encrypt", f.encrypt,
                   "encrypt layers client-side (aes-256-gcm-chunked-v1, spec §6)");
  f.push->add_option("--password", f.password, "encryption password (with --encrypt)");
  f.push->add_option("--password-file", f.password_file,
                     "file whose first line is the encryption password");
  f.push->add_option("--kdf-iterations", f.kdf_iterations, "PBKDF2 iterations (>= 10000)")
      ->check(CLI::Range(10000u, 100000000u))
      ->capture_default_str();

  f.pull = image_cmd->add_subcommand(
      "pull", "pull an image from a v1 registry into an archive `docker load` accepts");
  f.pull->add_option("name", f.name, "NAME[:TAG] (tag default: latest)")->required();
  f.pull->add_option("-o,--output", f.output, "archive to write")->required();
  AddCommon(f.pull, f);
  f.pull->add_option("--password", f.password, "decryption password for encrypted images");
  f.pull->add_option("--password-file", f.password_file,
                     "file whose first line is the decryption password");
  f.pull->add_option("--retries", f.retries,
                     "resume a cut-off layer download this many times (Range)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
}

int RunImageCommands(CLI::App* image_cmd) {
  ImageFlags& f = Flags();
  if (f.push != nullptr && f.push->parsed()) return RunPush();
  if (f.pull != nullptr && f.pull->parsed()) return RunPull();
  CLI::Option* id = image_cmd->get_option_no_throw("id");
  if (image_cmd->parsed() && id != nullptr && id->count() == 0) {
    std::fprintf(stderr, "berthctl image: give an image ID, or push/pull (see --help)\n");
    return 2;
  }
  return -1;
}

}  // namespace berth
