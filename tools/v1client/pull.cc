// The pull half of transfer.h: spec §5.4/§5.5, with §6.7 for encryption.
// Layers are downloaded into "<output>.partial/": <id>.part while arriving,
// <id>.layer once complete and verified, <id>.plain once decrypted. A cut
// transfer is resumed with Range, within this run and by the next run.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "nlohmann/json.hpp"
#include "tools/v1client/archive_writer.h"
#include "tools/v1client/crypto.h"
#include "tools/v1client/files.h"
#include "tools/v1client/transfer.h"

namespace berth::v1client {
namespace {

constexpr size_t kPiece = 1 << 20;

absl::Status AnswerError(const std::string& what, const HttpResponse& r) {
  std::string msg = absl::StrCat(what, ": ", DescribeAnswer(r));
  switch (r.status) {
    case 401: return absl::UnauthenticatedError(msg);
    case 403: return absl::PermissionDeniedError(msg);
    case 404: return absl::NotFoundError(msg);
    default: return absl::FailedPreconditionError(msg);
  }
}

bool IsTransport(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s);
}

// sha256(json + "\n" + the file's first `limit` bytes), incrementally.
absl::Status HashFilePrefix(const std::string& path, uint64_t limit, Sha256* h) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError("cannot open " + path);
  std::string buf(kPiece, '\0');
  while (limit > 0) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(buf.size(), limit)));
    auto n = static_cast<uint64_t>(in.gcount());
    if (n == 0) return absl::InternalError("short read of " + path);
    h->Update(buf.data(), n);
    limit -= n;
  }
  return absl::OkStatus();
}

absl::Status DecryptFile(const ChainKeys& keys, const std::string& id,
                         const std::string& in_path, const std::string& out_path) {
  LayerDecryptor dec(keys.LayerKey(id), id);
  std::ifstream in(in_path, std::ios::binary);
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!in || !out) return absl::InternalError("cannot open " + in_path);
  std::string buf(kPiece, '\0');
  for (;;) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    absl::StatusOr<std::string> p = dec.Update(absl::string_view(buf.data(), n));
    if (!p.ok()) return p.status();
    out.write(p->data(), static_cast<std::streamsize>(p->size()));
  }
  absl::StatusOr<std::string> p = dec.Finish();
  if (!p.ok()) return p.status();
  out.write(p->data(), static_cast<std::streamsize>(p->size()));
  out.close();
  if (!out) return absl::InternalError("cannot write " + out_path);
  return absl::OkStatus();
}

// One pull; owns the work directory's contents while it runs.
class Puller {
 public:
  Puller(const RepoRef& ref, const PullOptions& o)
      : ref_(ref), o_(o), work_(o.output + ".partial"), session_(MakeSessionOptions(o)) {}

  absl::StatusOr<PullReport> Run();
  const std::string& work() const { return work_; }
  bool created_work() const { return created_work_; }

 private:
  static SessionOptions MakeSessionOptions(const PullOptions& o) {
    SessionOptions so;
    so.index = o.registry;
    so.credentials = o.login;
    so.timeout = o.timeout;
    so.ca_file = o.ca_file;
    if (o.password.has_value()) {
      so.encrypt_capability = absl::StrCat("true; scheme=", kEncryptScheme);
    }
    return so;
  }
  // GET with up to o_.retries retries on transport errors.
  absl::StatusOr<HttpResponse> Get(const std::string& path);
  absl::StatusOr<LoadableImage> PullImage(const std::string& id, const std::string& parent,
                                          ImageReport* rep);
  absl::Status Download(const std::string& id, const std::string& json, uint64_t size,
                        const std::string& checksum, ImageReport* rep);

  RepoRef ref_;
  const PullOptions& o_;
  std::string work_;
  bool created_work_ = false;
  Session session_;
  Url ep_;
  std::map<std::string, ChainKeys> keys_by_sign_;
};

absl::StatusOr<HttpResponse> Puller::Get(const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<HttpResponse> r = session_.RegistryCall(ep_, "GET", path);
    if (r.ok() || !IsTransport(r.status()) || attempt >= o_.retries) return r;
    absl::SleepFor(o_.retry_pause * (attempt + 1));
  }
}

absl::StatusOr<PullReport> Puller::Run() {
  if (absl::Status s = session_.Ping(); !s.ok()) return s;
  if (!o_.login.empty()) {
    if (absl::Status s = session_.Login(); !s.ok()) return s;
  }
  // Step 2: the image list, for tokens and endpoints.
  absl::StatusOr<HttpResponse> list = session_.IndexCall(
      "GET", "/v1/repositories/" + ref_.name + "/images", {}, "", /*basic_always=*/false);
  if (!list.ok()) return list.status();
  if (list->status == 401) {
    return absl::UnauthenticatedError(absl::StrCat(
        "authentication is required to pull ", ref_.name, " (", DescribeAnswer(*list), ")"));
  }
  if (list->status == 404) return absl::NotFoundError("image " + ref_.name + " not found");
  if (list->status != 200) return AnswerError("GET image list of " + ref_.name, *list);
  if (absl::Status s = session_.TakeGrant(*list, false, false); !s.ok()) return s;

  // Step 3: tags from the first endpoint that answers.
  absl::StatusOr<HttpResponse> tags = absl::UnavailableError("no registry endpoint");
  for (const Url& ep : session_.grant().endpoints) {
    ep_ = ep;
    tags = Get("/v1/repositories/" + ref_.TagsName() + "/tags");
    if (tags.ok() && (tags->status == 200 || tags->status == 404)) break;
  }
  if (!tags.ok()) return tags.status();
  if (tags->status == 404) return absl::NotFoundError("repository " + ref_.name + " not found");
  if (tags->status != 200) return AnswerError("GET tags of " + ref_.name, *tags);
  nlohmann::json tag_map = nlohmann::json::parse(tags->body, nullptr, false);
  if (!tag_map.is_object() || !tag_map.contains(ref_.tag) || !tag_map[ref_.tag].is_string()) {
    return absl::NotFoundError(
        absl::StrCat("tag ", ref_.tag, " not found in repository ", ref_.name));
  }
  std::string top = tag_map[ref_.tag].get<std::string>();

  // Step 5: ancestry, then every image from the root up.
  absl::StatusOr<HttpResponse> anc = Get("/v1/images/" + top + "/ancestry");
  if (!anc.ok()) return anc.status();
  if (anc->status != 200) return AnswerError("GET ancestry of " + top, *anc);
  nlohmann::json ancestry = nlohmann::json::parse(anc->body, nullptr, false);
  if (!ancestry.is_array() || ancestry.empty() || ancestry[0] != top) {
    return absl::DataLossError("the registry's ancestry of " + top + " is malformed");
  }
  std::vector<std::string> ids;
  for (const auto& a : ancestry) {
    if (!a.is_string() || !IsSha256Hex(a.get<std::string>())) {
      return absl::DataLossError("the registry's ancestry of " + top + " is malformed");
    }
    ids.push_back(a.get<std::string>());
  }
  std::reverse(ids.begin(), ids.end());  // root first

  std::error_code ec;
  created_work_ = std::filesystem::create_directories(work_, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", work_, ": ", ec.message()));

  PullReport report;
  report.top_id = top;
  std::vector<LoadableImage> chain;
  for (size_t i = 0; i < ids.size(); ++i) {
    ImageReport rep;
    absl::StatusOr<LoadableImage> img = PullImage(ids[i], i == 0 ? "" : ids[i - 1], &rep);
    if (!img.ok()) return img.status();
    chain.push_back(*std::move(img));
    report.images.push_back(rep);
  }
  absl::string_view local = ref_.name;
  absl::ConsumePrefix(&local, "library/");
  if (absl::Status s = WriteLoadableArchive(o_.output, std::string(local), ref_.tag, chain); !s.ok()) {
    return s;
  }
  RemoveAll(work_).IgnoreError();
  return report;
}

absl::StatusOr<LoadableImage> Puller::PullImage(const std::string& id,
                                                const std::string& parent,
                                                ImageReport* rep) {
  rep->id = id;
  absl::StatusOr<HttpResponse> jr = Get("/v1/images/" + id + "/json");
  if (!jr.ok()) return jr.status();
  if (jr->status != 200) return AnswerError("GET json of image " + id, *jr);
  nlohmann::json j = nlohmann::json::parse(jr->body, nullptr, false);
  std::string jparent = j.is_object() && j.contains("parent") && j["parent"].is_string()
                            ? j["parent"].get<std::string>()
                            : "";
  if (!j.is_object() || !j.contains("id") || j["id"] != id || jparent != parent) {
    return absl::DataLossError(absl::StrCat("the json of image ", id,
                                            " does not match its id/ancestry"));
  }
  uint64_t size = 0;
  bool size_known = absl::SimpleAtoi(jr->Header("X-Docker-Size").value_or(""), &size);
  std::string checksum = jr->Header("X-Docker-Checksum-Payload")
                             .value_or(jr->Header("X-Docker-Payload-Checksum").value_or(""));
  if (!absl::StartsWith(checksum, "sha256:")) checksum.clear();

  // Encrypted? Check the password before downloading anything (§6.5).
  const ChainKeys* keys = nullptr;
  absl::StatusOr<EncryptHeader> enc =
      ParseEncryptHeader(jr->Header("X-Docker-Encrypt").value_or("false"));
  if (enc.ok() && enc->flag) {
    rep->encrypted = true;
    if (!o_.password.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "image ", id, " is encrypted; pass --password or --password-file to pull it"));
    }
    if (!enc->Supports(kEncryptScheme)) {
      return absl::UnimplementedError(absl::StrCat("image ", id,
                                                   " uses an unknown encryption scheme"));
    }
    std::string sign = jr->Header("X-Docker-Sign").value_or("");
    auto it = keys_by_sign_.find(sign);
    if (it == keys_by_sign_.end()) {
      absl::StatusOr<ChainKeys> k = ChainKeys::FromSign(*o_.password, sign);
      if (!k.ok()) {
        if (absl::IsPermissionDenied(k.status())) {
          return absl::PermissionDeniedError(
              absl::StrCat("wrong decryption password for image ", id));
        }
        return k.status();
      }
      it = keys_by_sign_.emplace(sign, *std::move(k)).first;
    }
    keys = &it->second;
  }

  std::string layer = work_ + "/" + id + ".layer";
  bool reuse = false;
  if (FileExists(layer)) {
    // Completed by an earlier run: reuse it if it still matches.
    absl::StatusOr<uint64_t> have = FileSize(layer);
    Sha256 h;
    h.Update(jr->body);
    h.Update("\n");
    reuse = have.ok() && (!size_known || *have == size) &&
            HashFilePrefix(layer, *have, &h).ok() &&
            (checksum.empty() || "sha256:" + h.HexDigest() == checksum);
  }
  if (reuse) {
    rep->skipped = true;
    rep->size = *FileSize(layer);
  } else {
    if (absl::Status s = Download(id, jr->body, size_known ? size : 0, checksum, rep); !s.ok()) {
      return s;
    }
  }
  LoadableImage out;
  out.id = id;
  out.json = jr->body;
  out.layer_path = layer;
  if (keys != nullptr) {
    out.layer_path = work_ + "/" + id + ".plain";
    if (absl::Status s = DecryptFile(*keys, id, layer, out.layer_path); !s.ok()) {
      return absl::DataLossError(absl::StrCat("cannot decrypt layer ", id, ": ", s.message()));
    }
  }
  absl::StatusOr<std::string> diff = DiffIdOfFile(out.layer_path);
  if (!diff.ok()) return diff.status();
  out.diff_id = *diff;
  return out;
}

absl::Status Puller::Download(const std::string& id, const std::string& json, uint64_t size,
                              const std::string& checksum, ImageReport* rep) {
  const std::string part = work_ + "/" + id + ".part";
  const std::string layer = work_ + "/" + id + ".layer";
  Sha256 hash;
  hash.Update(json);
  hash.Update("\n");
  uint64_t offset = 0;
  if (absl::StatusOr<uint64_t> have = FileSize(part); have.ok() && *have > 0 &&
                                                      (size == 0 || *have <= size)) {
    // Left by an earlier run: continue after it.
    if (HashFilePrefix(part, *have, &hash).ok()) offset = *have;
  }
  if (offset == 0) std::ofstream(part, std::ios::binary | std::ios::trunc);
  std::ofstream out(part, std::ios::binary | std::ios::app);
  if (!out) return absl::InternalError("cannot write " + part);

  int failures = 0;
  bool done = false;
  while (!done) {
    Headers headers;
    const uint64_t start = offset;
    if (start > 0) {
      headers.emplace_back("Range", absl::StrCat("bytes=", start, "-"));
      rep->resumed = true;
    }
    auto on_head = [&](const HttpResponse& r) -> absl::Status {
      if (r.status == 200 && start > 0) {
        // The Range was ignored: start over from the first byte.
        out.close();
        out.open(part, std::ios::binary | std::ios::trunc);
        hash.HexDigest();  // reset
        hash.Update(json);
        hash.Update("\n");
        offset = 0;
      } else if (r.status == 206) {
        std::string cr = r.Header("Content-Range").value_or("");
        if (!absl::StartsWith(cr, absl::StrCat("bytes ", start, "-"))) {
          return absl::DataLossError(absl::StrCat(
              "layer ", id, ": asked for bytes from ", start, ", got Content-Range \"", cr, "\""));
        }
      }
      return absl::OkStatus();
    };
    auto sink = [&](absl::string_view piece) -> absl::Status {
      out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
      if (!out) return absl::InternalError("cannot write " + part);
      hash.Update(piece);
      offset += piece.size();
      rep->transferred += piece.size();
      if (o_.progress) o_.progress(id, offset, size, false);
      return absl::OkStatus();
    };
    absl::StatusOr<HttpResponse> r = session_.RegistryCall(
        ep_, "GET", "/v1/images/" + id + "/layer", headers, "", nullptr, sink, on_head);
    out.flush();
    if (!r.ok()) {
      if (!IsTransport(r.status())) return r.status();
      if (++failures > o_.retries) {
        return absl::UnavailableError(absl::StrCat("download of layer ", id, " failed after ",
                                                   failures, " attempts: ",
                                                   r.status().message()));
      }
      absl::SleepFor(o_.retry_pause * failures);
      continue;
    }
    if (r->status == 200 || r->status == 206) {
      done = true;
    } else if (r->status == 416 && size > 0 && start == size) {
      done = true;  // docker: 416 exactly at the end means complete
    } else if (r->status == 406) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the registry refused layer ", id, " (", DescribeAnswer(*r),
          "); pass --password to pull encrypted images"));
    } else {
      return AnswerError("GET layer of image " + id, *r);
    }
  }
  out.close();
  if (o_.progress) o_.progress(id, offset, size, true);
  auto fail = [&](const std::string& msg) {
    std::remove(part.c_str());
    return absl::DataLossError(msg);
  };
  if (size > 0 && offset != size) {
    return fail(absl::StrCat("layer ", id, ": got ", offset, " bytes, the registry announced ",
                             size));
  }
  std::string got = "sha256:" + hash.HexDigest();
  if (!checksum.empty() && got != checksum) {
    return fail(absl::StrCat("checksum mismatch for layer ", id, ": the registry says ",
                             checksum, ", the bytes received give ", got));
  }
  rep->size = offset;
  if (std::rename(part.c_str(), layer.c_str()) != 0) {
    return absl::InternalError("cannot rename " + part);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PullReport> Pull(const RepoRef& ref, const PullOptions& o) {
  if (o.output.empty()) return absl::InvalidArgumentError("no output archive given");
  Puller p(ref, o);
  absl::StatusOr<PullReport> r = p.Run();
  if (r.ok()) return r;
  if (IsTransport(r.status()) && FileExists(p.work())) {
    return absl::Status(r.status().code(),
                        absl::StrCat(r.status().message(), "; the layers downloaded so far are "
                                     "kept in ", p.work(), ": run the same pull again to resume"));
  }
  // A retry cannot fix anything else (not found, wrong password, checksum
  // mismatch...), so the partial state goes.
  if (FileExists(p.work())) RemoveAll(p.work()).IgnoreError();
  return r;
}

}  // namespace berth::v1client
