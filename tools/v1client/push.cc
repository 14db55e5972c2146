// The push half of transfer.h: spec §5.2/§5.3, with §6.7 for encryption.
#include <cstdlib>
#include <fstream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/random.h"
#include "common/sha256.h"
#include "nlohmann/json.hpp"
#include "tools/v1client/crypto.h"
#include "tools/v1client/transfer.h"

namespace berth::v1client {
namespace {

constexpr size_t kPiece = 1 << 20;

// Streams one layer file as the PUT body: encrypts it if asked and hashes
// exactly the bytes sent, after the json and a newline (§3.1).
struct LayerSource {
  std::ifstream in;
  std::unique_ptr<LayerEncryptor> enc;
  Sha256 payload;
  bool finished = false;
  uint64_t read = 0;
  uint64_t sent = 0;
  uint64_t total = 0;
  std::string id;
  ProgressFn progress;

  absl::StatusOr<std::string> Next() {
    while (!finished) {
      std::string buf(kPiece, '\0');
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.resize(static_cast<size_t>(in.gcount()));
      if (buf.empty()) {
        if (in.bad()) return absl::InternalError("cannot read the layer file");
        finished = true;
        std::string tail;
        if (enc != nullptr) {
          absl::StatusOr<std::string> t = enc->Finish();
          if (!t.ok()) return t.status();
          tail = *std::move(t);
        }
        payload.Update(tail);
        sent += tail.size();
        return tail;  // "" ends the body
      }
      read += buf.size();
      if (progress) progress(id, read, total, false);
      if (enc != nullptr) {
        absl::StatusOr<std::string> c = enc->Update(buf);
        if (!c.ok()) return c.status();
        buf = *std::move(c);
      }
      if (!buf.empty()) {
        payload.Update(buf);
        sent += buf.size();
        return buf;
      }
    }
    return std::string();
  }
};

absl::Status CallFailed(const std::string& what, const absl::StatusOr<HttpResponse>& r) {
  if (!r.ok()) return r.status();
  std::string msg = absl::StrCat(what, " failed: ", DescribeAnswer(*r));
  if (r->status == 401) return absl::UnauthenticatedError(msg);
  if (r->status == 403) return absl::PermissionDeniedError(msg);
  if (r->status == 404) return absl::NotFoundError(msg);
  return absl::FailedPreconditionError(msg);
}

bool IsAlreadyExists(const HttpResponse& r) {
  if (r.status != 409) return false;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"] == "Image already exists";
}

}  // namespace

std::string RepoRef::TagsName() const {
  return absl::StrContains(name, '/') ? name : "library/" + name;
}

absl::StatusOr<RepoRef> ParseRepoRef(const std::string& text) {
  RepoRef ref;
  size_t slash = text.rfind('/');
  size_t colon = text.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    ref.name = text.substr(0, colon);
    ref.tag = text.substr(colon + 1);
  } else {
    ref.name = text;
    ref.tag = "latest";
  }
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("bad image name \"", text, "\": ", why));
  };
  std::vector<std::string> parts = absl::StrSplit(ref.name, '/');
  if (parts.size() > 2 || ref.name.empty()) return bad("use NAME, NS/NAME, optionally :TAG");
  if (parts.size() == 2) {
    const std::string& ns = parts[0];
    if (ns.size() < 2 || ns.size() > 255 || ns.front() == '-' || ns.back() == '-' ||
        absl::StrContains(ns, "--")) {
      return bad("invalid namespace");
    }
    for (char c : ns) {
      if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_' && c != '-') {
        return bad("invalid namespace");
      }
    }
  }
  const std::string& repo = parts.back();
  if (repo.empty() || repo.size() > 255) return bad("invalid repository name");
  for (char c : repo) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_' && c != '-' && c != '.') {
      return bad("invalid repository name");
    }
  }
  if (ref.tag.empty() || ref.tag.size() > 128 || ref.tag[0] == '.' || ref.tag[0] == '-') {
    return bad("invalid tag");
  }
  for (char c : ref.tag) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') return bad("invalid tag");
  }
  return ref;
}

absl::StatusOr<PushReport> Push(const ArchiveImage& image, const RepoRef& ref,
                                const PushOptions& o) {
  if (image.chain.empty()) return absl::InvalidArgumentError("nothing to push");
  if (o.encrypt && (!o.password.has_value() || o.password->empty())) {
    return absl::InvalidArgumentError("--encrypt needs --password or --password-file");
  }
  SessionOptions so;
  so.index = o.registry;
  so.credentials = o.login;
  so.timeout = o.timeout;
  so.ca_file = o.ca_file;
  if (o.encrypt) so.encrypt_capability = absl::StrCat("true; scheme=", kEncryptScheme);
  Session session(so);
  if (absl::Status s = session.Ping(); !s.ok()) return s;
  if (o.encrypt && !(session.ping().encrypt.has_value() &&
                     session.ping().encrypt->Supports(kEncryptScheme))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "registry ", o.registry.Origin(), " does not support encrypted images (its _ping has no ",
        "X-Docker-Encrypt: true; scheme=", kEncryptScheme, "); nothing was pushed"));
  }
  if (!o.login.empty()) {
    if (absl::Status s = session.Login(); !s.ok()) return s;
  }

  // Step 1: one element per image, the top one with its tag.
  nlohmann::json list = nlohmann::json::array();
  for (const V1Image& img : image.chain) {
    nlohmann::json e = {{"id", img.id}};
    if (&img == &image.chain.back()) e["Tag"] = ref.tag;
    list.push_back(e);
  }
  absl::StatusOr<HttpResponse> start = session.IndexCall(
      "PUT", "/v1/repositories/" + ref.name + "/", {}, list.dump(), /*basic_always=*/true);
  if (!start.ok() || (start->status != 200 && start->status != 201)) {
    return CallFailed("PUT /v1/repositories/" + ref.name + "/", start);
  }
  if (absl::Status s = session.TakeGrant(*start, true, true); !s.ok()) return s;

  PushReport report;
  std::vector<std::string> endpoint_names;
  for (const Url& ep : session.grant().endpoints) endpoint_names.push_back(ep.HostPort());
  report.endpoints = endpoint_names;

  // Step 2, on every endpoint (§5.9).
  for (const Url& ep : session.grant().endpoints) {
    report.images.clear();
    std::optional<ChainKeys> keys;  // one salt per chain (§6.5)
    for (const V1Image& img : image.chain) {
      ImageReport rep;
      rep.id = img.id;
      rep.encrypted = o.encrypt;
      const std::string base = "/v1/images/" + img.id;
      bool present = false;
      absl::StatusOr<HttpResponse> probe = session.RegistryCall(ep, "GET", base + "/json");
      if (!probe.ok()) return probe.status();
      if (probe->status == 200) {
        std::optional<std::string> status = probe->Header("X-Docker-Encrypt");
        absl::StatusOr<EncryptHeader> enc = ParseEncryptHeader(status.value_or("false"));
        bool remote_encrypted = enc.ok() && enc->flag;
        if (o.encrypt && !remote_encrypted) {
          return absl::FailedPreconditionError(absl::StrCat(
              "image ", img.id, " is already on the registry unencrypted; it cannot be "
              "pushed encrypted"));
        }
        if (!o.encrypt && remote_encrypted) {
          return absl::FailedPreconditionError(absl::StrCat(
              "image ", img.id, " is already on the registry encrypted; push with --encrypt"));
        }
        if (o.encrypt) {
          absl::StatusOr<ChainKeys> k =
              ChainKeys::FromSign(*o.password, probe->Header("X-Docker-Sign").value_or(""));
          if (!k.ok()) {
            return absl::PermissionDeniedError(absl::StrCat(
                "image ", img.id, " is already on the registry, encrypted with another "
                "password (", k.status().message(), ")"));
          }
          if (!keys.has_value()) keys = *std::move(k);
        }
        present = true;
        rep.size = std::strtoull(probe->Header("X-Docker-Size").value_or("0").c_str(), nullptr, 10);
      }
      if (!present) {
        Headers json_headers = {{"Content-Type", "application/json"}};
        if (o.encrypt) {
          if (!keys.has_value()) {
            absl::StatusOr<std::string> salt = FromHex(RandomHex(16));
            absl::StatusOr<ChainKeys> k =
                ChainKeys::Derive(*o.password, *salt, o.kdf_iterations);
            if (!k.ok()) return k.status();
            keys = *std::move(k);
          }
          json_headers.emplace_back("X-Docker-Encrypt",
                                    absl::StrCat("true; scheme=", kEncryptScheme));
          json_headers.emplace_back("X-Docker-Sign", keys->sign());
        }
        absl::StatusOr<HttpResponse> put =
            session.RegistryCall(ep, "PUT", base + "/json", json_headers, img.json);
        if (put.ok() && IsAlreadyExists(*put)) {
          present = true;
        } else if (!put.ok() || put->status != 200) {
          return CallFailed("PUT " + base + "/json", put);
        }
      }
      if (!present) {
        auto src = std::make_shared<LayerSource>();
        src->in.open(img.layer_path, std::ios::binary);
        if (!src->in) return absl::InternalError("cannot open " + img.layer_path);
        src->payload.Update(img.json);
        src->payload.Update("\n");
        src->total = img.layer_size;
        src->id = img.id;
        src->progress = o.progress;
        if (o.encrypt) {
          src->enc = std::make_unique<LayerEncryptor>(keys->LayerKey(img.id), img.id,
                                                      o.chunk_size);
        }
        absl::StatusOr<HttpResponse> put = session.RegistryCall(
            ep, "PUT", base + "/layer", {{"Content-Type", "application/octet-stream"}}, "",
            [src] { return src->Next(); });
        if (!put.ok() || put->status != 200) return CallFailed("PUT " + base + "/layer", put);
        std::string checksum = "sha256:" + src->payload.HexDigest();
        absl::StatusOr<HttpResponse> sum = session.RegistryCall(
            ep, "PUT", base + "/checksum", {{"X-Docker-Checksum-Payload", checksum}});
        if (!sum.ok() || sum->status != 200) return CallFailed("PUT " + base + "/checksum", sum);
        rep.size = src->sent;
        rep.transferred = src->sent;
        if (o.progress) o.progress(img.id, src->read, src->total, true);
      } else {
        rep.skipped = true;
      }
      if (&img == &image.chain.back()) {
        absl::StatusOr<HttpResponse> tag = session.RegistryCall(
            ep, "PUT", "/v1/repositories/" + ref.name + "/tags/" + ref.tag,
            {{"Content-Type", "application/json"}}, nlohmann::json(img.id).dump());
        if (!tag.ok() || (tag->status != 200 && tag->status != 201)) {
          return CallFailed("PUT tag " + ref.tag, tag);
        }
      }
      report.images.push_back(rep);
    }
  }

  // Step 3: finish; docker requires exactly 204.
  absl::StatusOr<HttpResponse> done = session.IndexCall(
      "PUT", "/v1/repositories/" + ref.name + "/images",
      {{"X-Docker-Endpoints", absl::StrJoin(endpoint_names, ", ")}}, "[]", true);
  if (!done.ok() || done->status != 204) {
    return CallFailed("PUT /v1/repositories/" + ref.name + "/images", done);
  }
  return report;
}

}  // namespace berth::v1client
