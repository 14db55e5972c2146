// Image endpoints (spec §2.6) and the upload state machine's HTTP face (§4).
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "common/sha256.h"
#include "frontend/http_util.h"
#include "frontend/names.h"
#include "frontend/registry.h"
#include "frontend/tar/file_list.h"
#include "frontend/tar/layer_inspector.h"
#include "frontend/tar/tarsum.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace berth::frontend {
namespace {

constexpr char kInvalidId[] = "Invalid image ID";

// Upload intents (gc, metadata/state_machine_gc.cc): an intent lives this
// long unless refreshed, so a crashed frontend holds gc's sweep back at
// most this long; a running upload refreshes it every third of that.
constexpr absl::Duration kUploadIntentTtl = absl::Minutes(10);
constexpr absl::Duration kUploadIntentRefresh = absl::Seconds(200);  // ttl / 3

meta::Command UploadIntentCommand(const std::string& intent_id,
                                  const std::string& image_id, bool refresh) {
  meta::Command command;
  meta::BeginUpload* begin = command.mutable_begin_upload();
  begin->set_intent_id(intent_id);
  begin->set_image_id(image_id);
  begin->set_now_unix_ms(absl::ToUnixMillis(absl::Now()));
  begin->set_ttl_ms(absl::ToInt64Milliseconds(kUploadIntentTtl));
  begin->set_refresh(refresh);
  return command;
}

// The reason a failed intent write gives the client: 503 either way (the
// upload may be retried at once).
absl::Status IntentError(const absl::StatusOr<meta::CommandResult>& result) {
  if (!result.ok()) return result.status();
  if (result->error().reason() == REASON_UNSPECIFIED) return absl::OkStatus();
  return absl::UnavailableError(result->error().message());
}

// Validates an image json body (spec §2.6.2 checks 3-5). Returns "" or the
// error message; sets `parent`.
std::string CheckImageJson(const std::string& body, const std::string& id,
                           std::string* parent) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || json.empty()) {
    return "Invalid JSON";
  }
  auto it = json.find("id");
  if (it == json.end()) return "Missing key `id' in JSON";
  if (!it->is_string() || it->get<std::string>() != id) {
    return "JSON data contains invalid id";
  }
  auto p = json.find("parent");
  if (p != json.end() && !p->is_null()) {
    if (!p->is_string()) return "Invalid JSON";
    *parent = p->get<std::string>();
    if (!parent->empty() && !ValidImageId(*parent)) return "Invalid JSON";
  }
  return "";
}

}  // namespace

void Registry::PutImageJson(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  if (!ValidImageId(r.image_id)) return ReplyError(ex, 404, kInvalidId);
  absl::StatusOr<std::string> body = ex.ReadBody(options_.max_json_size);
  if (!body.ok()) {
    if (absl::IsResourceExhausted(body.status())) {
      return ReplyError(ex, 413, "JSON too large");
    }
    return ReplyError(ex, 400, "Invalid JSON");
  }
  std::string parent;
  std::string bad = CheckImageJson(*body, r.image_id, &parent);
  if (!bad.empty()) return ReplyError(ex, 400, bad);
  // Check 6 (membership of the token's repository) and authorisation.
  auto denial = access_->CheckImageWrite(caller, r.image_id, /*is_json=*/true);
  if (!denial.ok()) return ReplyUnavailable(ex, denial.status());
  if (*denial) return Deny(ex, **denial);
  if (!parent.empty()) {
    // Check 8: the caller may build on the parent — the rule that guards
    // image lists (existence is check 7, in apply; an unknown parent is not
    // "unauthorized").
    absl::StatusOr<bool> may_use = access_->MayList(caller, parent);
    if (!may_use.ok()) return ReplyUnavailable(ex, may_use.status());
    if (!*may_use) {
      return ReplyError(ex, 400, "Image depends on an unauthorized parent");
    }
  }
  meta::Command command;
  auto* put = command.mutable_put_image_json();
  // The encryption declaration (spec §6.4 rules 1-2), when enabled.
  std::optional<std::pair<int, std::string>> extension_error;
  if (options_.encryption) {
    std::optional<std::string> declared = ex.header("X-Docker-Encrypt");
    std::optional<std::string> sign = ex.header("X-Docker-Sign");
    bool encrypted = false;
    if (declared) {
      auto parsed = auth::ParseEncrypt(*declared);
      if (!parsed.ok()) {
        extension_error = {400, "Invalid X-Docker-Encrypt"};
      } else {
        encrypted = parsed->flag;
      }
      if (encrypted) {
        std::string scheme;
        for (const auto& s : parsed->schemes) {
          if (s == auth::kEncryptionScheme) scheme = s;
        }
        if (scheme.empty()) {
          extension_error = {412, "Unsupported encryption scheme"};
        } else if (!sign || !auth::ValidSign(*sign)) {
          extension_error = {400, "Missing or invalid X-Docker-Sign"};
        } else {
          put->set_encrypted(true);
          put->set_encryption_scheme(scheme);
          put->set_encryption_sign(*sign);
        }
      }
    }
    if (!extension_error && !encrypted && sign) {
      extension_error = {400, "X-Docker-Sign requires X-Docker-Encrypt: true"};
    }
  }
  if (extension_error) {
    // The extension checks come after the normal checks 1-9 (§2.6.2, §6.4
    // rule 1): a missing parent (7) or a complete image (9) answers first.
    if (!parent.empty()) {
      meta::GetImageRequest request;
      request.set_id(parent);
      auto response = metadata_->GetImage(request);
      if (!response.ok()) return ReplyUnavailable(ex, response.status());
      if (response->error().reason() != REASON_UNSPECIFIED) {
        return ReplyError(ex, 400, "Image depends on a non existing parent");
      }
    }
    meta::GetImageRequest request;
    request.set_id(r.image_id);
    auto response = metadata_->GetImage(request);
    if (!response.ok()) return ReplyUnavailable(ex, response.status());
    if (response->error().reason() == REASON_UNSPECIFIED &&
        response->image().state() == meta::COMPLETE) {
      return ReplyError(ex, 409, "Image already exists");
    }
    return ReplyError(ex, extension_error->first, extension_error->second);
  }
  put->set_id(r.image_id);
  put->set_json(std::move(*body));
  put->set_parent(parent);
  put->set_now_unix(absl::ToUnixSeconds(absl::Now()));
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  switch (result->error().reason()) {
    case REASON_UNSPECIFIED:
      return ReplyJson(ex, 200, "true");
    case PARENT_NOT_FOUND:
      return ReplyError(ex, 400, "Image depends on a non existing parent");
    case IMAGE_ALREADY_EXISTS:
      return ReplyError(ex, 409, "Image already exists");
    case SIGN_MISMATCH:
      return ReplyError(ex, 400, "X-Docker-Sign does not match the parent image");
    case TOO_LARGE:
      return ReplyError(ex, 413, "JSON too large");
    default:
      return ReplyError(ex, 400, result->error().message());
  }
}

std::shared_ptr<const meta::ImageRecord> Registry::LoadReadableImage(
    HttpExchange& ex, const std::string& id, const Caller& caller,
    bool include_json) {
  if (!ValidImageId(id)) {
    ReplyError(ex, 404, kInvalidId);
    return nullptr;
  }
  auto denial = access_->CheckImageRead(caller, id);
  if (!denial.ok()) {
    ReplyUnavailable(ex, denial.status());
    return nullptr;
  }
  if (*denial) {
    Deny(ex, **denial);
    return nullptr;
  }
  if (options_.images_generation != nullptr) {
    image_cache_.Invalidate(options_.images_generation->load());
  }
  if (auto cached = image_cache_.Get(id, include_json)) return cached;
  // A complete image never changes, so any replica's local copy of it is as
  // good as a linearizable read: ask for that first. It answers at once,
  // also in a zone cut off from the log's quorum. Only an image the replica
  // does not have complete needs the linearizable read. (A replica that has
  // not applied a gc deletion yet may still return the deleted image, as
  // the cache may until its next Invalidate: gc deletes only images no
  // repository lists.)
  meta::GetImageRequest request;
  request.set_id(id);
  request.set_include_json(include_json);
  request.mutable_read()->set_stale_ok(true);
  auto response = metadata_->GetImage(request);
  if (!response.ok() || response->error().reason() != REASON_UNSPECIFIED ||
      response->image().state() != meta::COMPLETE) {
    request.mutable_read()->set_stale_ok(false);
    response = metadata_->GetImage(request);
  }
  if (!response.ok()) {
    ReplyUnavailable(ex, response.status());
    return nullptr;
  }
  if (response->error().reason() != REASON_UNSPECIFIED) {
    ReplyError(ex, 404, "Image not found");
    return nullptr;
  }
  if (response->image().state() != meta::COMPLETE) {
    ReplyError(ex, 400, "Image is being uploaded, retry later");
    return nullptr;
  }
  auto image = std::make_shared<const meta::ImageRecord>(
      std::move(*response->mutable_image()));
  image_cache_.Put(image, include_json);
  return image;
}

void Registry::AddImageStatus(const meta::ImageRecord& image,
                              HeaderList* headers) const {
  if (!options_.encryption) return;
  if (image.encrypted()) {
    headers->emplace_back("X-Docker-Encrypt",
                          "true; scheme=" + image.encryption_scheme());
    headers->emplace_back("X-Docker-Sign", image.encryption_sign());
  } else {
    headers->emplace_back("X-Docker-Encrypt", "false");
  }
}

void Registry::GetImageJson(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  auto loaded = LoadReadableImage(ex, r.image_id, caller, true);
  if (loaded == nullptr) return;
  const meta::ImageRecord& image = *loaded;
  HeaderList headers = CacheableHeaders(absl::Now(), "application/json");
  AddImageStatus(image, &headers);
  headers.emplace_back("X-Docker-Size", absl::StrCat(image.layer().total_size()));
  headers.emplace_back("X-Docker-Checksum-Payload", image.payload_checksum());
  const std::string& tarsum = image.client_tarsum().empty()
                                  ? image.computed_tarsum()
                                  : image.client_tarsum();
  if (!tarsum.empty()) headers.emplace_back("X-Docker-Checksum", tarsum);
  if (ex.header("If-Modified-Since")) return ex.Respond(304, headers, "");
  ex.Respond(200, headers, image.json());
}

void Registry::GetAncestry(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  auto loaded = LoadReadableImage(ex, r.image_id, caller, false);
  if (loaded == nullptr) return;
  const meta::ImageRecord& image = *loaded;
  HeaderList headers = CacheableHeaders(absl::Now(), "application/json");
  if (ex.header("If-Modified-Since")) return ex.Respond(304, headers, "");
  nlohmann::json ancestry = std::vector<std::string>(image.ancestry().begin(),
                                                    image.ancestry().end());
  ex.Respond(200, headers, ancestry.dump());
}

void Registry::PutLayer(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  if (!ValidImageId(r.image_id)) return ReplyError(ex, 404, kInvalidId);
  auto denial = access_->CheckImageWrite(caller, r.image_id, false);
  if (!denial.ok()) return ReplyUnavailable(ex, denial.status());
  if (*denial) return Deny(ex, **denial);
  meta::GetImageRequest request;
  request.set_id(r.image_id);
  request.set_include_json(true);
  auto response = metadata_->GetImage(request);
  if (!response.ok()) return ReplyUnavailable(ex, response.status());
  if (response->error().reason() != REASON_UNSPECIFIED) {
    return ReplyError(ex, 404, "Image not found");
  }
  const meta::ImageRecord& image = response->image();
  if (image.state() == meta::COMPLETE) {
    return ReplyError(ex, 409, "Image already exists");
  }
  if (options_.max_layer_size > 0 &&
      ex.content_length().value_or(0) > options_.max_layer_size) {
    return ReplyError(ex, 413, "Layer too large");
  }
  // A bounded number of uploads at once; the rest retry later.
  if (uploads_in_flight_.fetch_add(1) >= options_.max_uploads) {
    uploads_in_flight_.fetch_sub(1);
    HeaderList headers = NoCacheHeaders();
    headers.emplace_back("Retry-After", "5");
    return ex.Respond(503, headers,
                      ErrorBody("Too many concurrent uploads, retry later"));
  }
  if (uploads_gauge_) uploads_gauge_->Add(1);
  struct Release {
    Registry* self;
    ~Release() {
      self->uploads_in_flight_.fetch_sub(1);
      if (self->uploads_gauge_) self->uploads_gauge_->Add(-1);
    }
  } release{this};
  // Record the upload's intent before any chunk is written, so that a gc
  // running meanwhile sweeps none of them; the commit consumes it, every
  // other exit ends it.
  const std::string intent_id = RandomHex(16);
  if (absl::Status st = IntentError(
          metadata_->Execute(UploadIntentCommand(intent_id, r.image_id, false)));
      !st.ok()) {
    return ReplyUnavailable(ex, st);
  }
  struct EndIntent {
    meta::MetadataClient* metadata;
    const std::string& id;
    bool consumed = false;
    ~EndIntent() {
      if (consumed) return;
      meta::Command end;
      end.mutable_end_upload()->set_intent_id(id);
      auto ended = metadata->Execute(std::move(end));
      if (!ended.ok()) {  // harmless: the intent expires
        spdlog::warn("upload intent {} not ended: {}", id,
                     ended.status().ToString());
      }
    }
  } end_intent{metadata_, intent_id};
  absl::Time intent_refreshed = absl::Now();
  // Payload checksum (spec §3.1): sha256(json + "\n" + layer as sent).
  Sha256 payload;
  payload.Update(image.json());
  payload.Update("\n");
  // The writer needs its client to outlive it: `blobs` is declared first.
  const std::shared_ptr<blob::BlobClient> blobs = blobs_->Get();
  std::unique_ptr<blob::LayerWriter> writer =
      blobs->NewLayerWriter(RandomHex(16));
  // TarSum v0 runs on the inspector's own thread and gives up rather than
  // hold the upload back (spec §3.2.9).
  tar::TarSum tarsum(tar::TarSum::Version::kV0, image.json());
  tar::LayerInspector inspector(&tarsum);
  absl::Status blob_error;
  uint64_t received = 0;
  bool too_large = false;
  absl::Status st = ex.StreamBody([&](absl::string_view piece) {
    received += piece.size();
    if (options_.max_layer_size > 0 && received > options_.max_layer_size) {
      too_large = true;
      return absl::ResourceExhaustedError("layer too large");
    }
    if (layer_bytes_in_) layer_bytes_in_->Add(piece.size());
    if (absl::Now() - intent_refreshed > kUploadIntentRefresh) {
      // A long upload keeps its intent alive; one that lost it (expired,
      // so its chunks may be swept) must start over.
      blob_error = IntentError(metadata_->Execute(
          UploadIntentCommand(intent_id, r.image_id, true)));
      if (!blob_error.ok()) return blob_error;
      intent_refreshed = absl::Now();
    }
    payload.Update(piece);
    if (!image.encrypted()) inspector.FeedLossy(piece);
    blob_error = writer->Write(piece);
    return blob_error;
  });
  if (!st.ok()) {
    writer->Abort();
    if (too_large) return ReplyError(ex, 413, "Layer too large");
    if (absl::IsDeadlineExceeded(st)) {
      return ReplyError(ex, 408, "Request timeout");
    }
    if (!blob_error.ok()) return ReplyUnavailable(ex, blob_error);
    // The client's body broke off: nothing is published.
    spdlog::info("layer upload of {} cut off: {}", r.image_id, st.ToString());
    return ReplyError(ex, 400, "Layer upload incomplete");
  }
  absl::StatusOr<blob::LayerManifest> manifest = writer->Finish();
  if (!manifest.ok()) return ReplyUnavailable(ex, manifest.status());
  meta::Command command;
  auto* commit = command.mutable_commit_layer();
  commit->set_id(r.image_id);
  commit->set_json_sha256(image.json_sha256());
  *commit->mutable_layer() = std::move(*manifest);
  commit->set_payload_checksum("sha256:" + payload.HexDigest());
  commit->set_upload_intent_id(intent_id);
  if (absl::Status tar_st = inspector.Finish();
      tar_st.ok() && !image.encrypted()) {
    commit->set_computed_tarsum(tarsum.Result());
  } else {
    spdlog::debug("no TarSum for {}: {}", r.image_id, tar_st.ToString());
  }
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  switch (result->error().reason()) {
    case REASON_UNSPECIFIED:
      end_intent.consumed = true;
      return ReplyJson(ex, 200, "true");
    case IMAGE_NOT_FOUND:
      return ReplyError(ex, 404, "Image not found");
    case IMAGE_ALREADY_EXISTS:
      return ReplyError(ex, 409, "Image already exists");
    case UPLOAD_EXPIRED:
      return ReplyUnavailable(ex,
                              absl::UnavailableError(result->error().message()));
    default:
      return ReplyError(ex, 400, result->error().message());
  }
}

void Registry::PutChecksum(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  if (!ValidImageId(r.image_id)) return ReplyError(ex, 404, kInvalidId);
  std::optional<std::string> payload = ex.header("X-Docker-Checksum-Payload");
  if (!payload) {
    return ReplyError(ex, 412,
                      "X-Docker-Checksum-Payload not set.  If you are using "
                      "the Docker daemon, you should upgrade to version 0.10 "
                      "or later");
  }
  if (payload->empty()) return ReplyError(ex, 400, "Missing Image's checksum");
  auto denial = access_->CheckImageWrite(caller, r.image_id, false);
  if (!denial.ok()) return ReplyUnavailable(ex, denial.status());
  if (*denial) return Deny(ex, **denial);
  meta::Command command;
  auto* confirm = command.mutable_confirm_checksum();
  confirm->set_id(r.image_id);
  confirm->set_payload_checksum(*payload);
  std::string client_tarsum = ex.header("X-Docker-Checksum").value_or("");
  // Stored only if well-formed (§2.6.5, §3.2.1); never a reason to fail.
  if (tar::IsTarSum(client_tarsum)) confirm->set_client_tarsum(client_tarsum);
  auto result = metadata_->Execute(command);
  if (!result.ok()) return ReplyUnavailable(ex, result.status());
  switch (result->error().reason()) {
    case REASON_UNSPECIFIED:
      return ReplyJson(ex, 200, "true");
    case IMAGE_NOT_FOUND:
      return ReplyError(ex, 404, "Image not found");
    case IMAGE_ALREADY_EXISTS:
      return ReplyError(ex, 409, "Cannot set this image checksum");
    default:
      return ReplyError(ex, 400, "Checksum mismatch");
  }
}

void Registry::GetLayer(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  auto loaded = LoadReadableImage(ex, r.image_id, caller, false);
  if (loaded == nullptr) return;
  const meta::ImageRecord& image = *loaded;
  if (options_.encryption && image.encrypted() &&
      !auth::ClientCanDecrypt(ex.header("X-Docker-Encrypt"),
                              image.encryption_scheme())) {
    return ReplyError(ex, 406,
                      "Image is encrypted; send X-Docker-Encrypt: true to "
                      "download it");
  }
  const uint64_t size = image.layer().total_size();
  HeaderList headers = CacheableHeaders(absl::Now(), "application/octet-stream");
  AddImageStatus(image, &headers);
  headers.emplace_back("Accept-Ranges", "bytes");
  if (ex.header("If-Modified-Since")) return ex.Respond(304, headers, "");
  uint64_t first = 0, length = size;
  int status = 200;
  if (auto range = ParseRange(ex.header("Range").value_or(""))) {
    uint64_t last = range->last ? std::min(*range->last, size - 1) : size - 1;
    if (range->first >= size || (range->last && range->first > *range->last)) {
      headers.emplace_back("Content-Range", absl::StrCat("bytes */", size));
      return ex.Respond(416, headers, "");
    }
    first = range->first;
    length = last - first + 1;
    status = 206;
    headers.emplace_back("Content-Range",
                         absl::StrCat("bytes ", first, "-", last, "/", size));
  }
  // Every chunk is verified by the blob client before its bytes are sent.
  const std::shared_ptr<blob::BlobClient> blobs = blobs_->Get();
  ex.RespondStream(status, headers, length, [&](const auto& send) {
    if (length == 0) return absl::OkStatus();
    return blobs->ReadLayer(image.layer(), first, length,
                             [&](absl::string_view piece) {
                               if (layer_bytes_out_) {
                                 layer_bytes_out_->Add(piece.size());
                               }
                               return send(piece);
                             });
  });
}

void Registry::GetFiles(HttpExchange& ex, const Route& r,
                const Caller& caller) {
  auto loaded = LoadReadableImage(ex, r.image_id, caller, false);
  if (loaded == nullptr) return;
  const meta::ImageRecord& image = *loaded;
  if (image.encrypted()) return ReplyError(ex, 400, "Image is encrypted");
  HeaderList headers = CacheableHeaders(absl::Now(), "application/json");
  if (ex.header("If-Modified-Since")) return ex.Respond(304, headers, "");
  tar::FileList files;
  tar::LayerInspector inspector(&files);
  absl::Status read = blobs_->Get()->ReadLayer(
      image.layer(), 0, 0, [&](absl::string_view piece) {
        return inspector.FeedBlocking(piece)
                   ? absl::OkStatus()
                   : absl::CancelledError("not a tar");
      });
  absl::Status parsed = inspector.Finish();
  if (!read.ok() && !absl::IsCancelled(read)) {
    return ReplyUnavailable(ex, read);
  }
  if (!parsed.ok()) return ReplyError(ex, 400, "Layer format not supported");
  ex.Respond(200, headers, files.files().dump());
}

}  // namespace berth::frontend
