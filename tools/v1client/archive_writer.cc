#include "tools/v1client/archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/sha256.h"
#include "nlohmann/json.hpp"
#include "tools/v1client/files.h"

namespace berth::v1client {
namespace {

using nlohmann::json;

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Owns one libarchive writer on an open file.
class TarWriter {
 public:
  explicit TarWriter(const std::string& path) : path_(path), a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    ok_ = archive_write_open_filename(a_, path.c_str()) == ARCHIVE_OK;
  }
  ~TarWriter() { archive_write_free(a_); }

  absl::Status status() const {
    return ok_ ? absl::OkStatus() : Error("cannot create");
  }
  absl::Status Dir(const std::string& name) { return Header(name, AE_IFDIR, 0755, 0); }
  absl::Status File(const std::string& name, const std::string& data) {
    if (absl::Status s = Header(name, AE_IFREG, 0644, data.size()); !s.ok()) return s;
    if (!data.empty() && archive_write_data(a_, data.data(), data.size()) < 0) {
      return Error("cannot write");
    }
    return absl::OkStatus();
  }
  absl::Status FileFrom(const std::string& name, const std::string& src) {
    absl::StatusOr<uint64_t> size = FileSize(src);
    if (!size.ok()) return size.status();
    if (absl::Status s = Header(name, AE_IFREG, 0644, *size); !s.ok()) return s;
    std::ifstream in(src, std::ios::binary);
    std::string buf(1 << 20, '\0');
    uint64_t left = *size;
    while (left > 0 && in) {
      in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(buf.size(), left)));
      auto n = in.gcount();
      if (n <= 0) break;
      if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0) {
        return Error("cannot write");
      }
      left -= static_cast<uint64_t>(n);
    }
    if (left != 0) return absl::InternalError(absl::StrCat("cannot read ", src));
    return absl::OkStatus();
  }
  absl::Status Close() {
    if (archive_write_close(a_) != ARCHIVE_OK) return Error("cannot finish");
    return absl::OkStatus();
  }

 private:
  absl::Status Header(const std::string& name, unsigned type, int mode, uint64_t size) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                              archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), mode);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), 0, 0);  // reproducible archives
    if (archive_write_header(a_, e.get()) != ARCHIVE_OK) return Error("cannot write");
    return absl::OkStatus();
  }
  absl::Status Error(const char* what) const {
    const char* msg = archive_error_string(a_);
    return absl::InternalError(
        absl::StrCat(what, " ", path_, ": ", msg != nullptr ? msg : "unknown error"));
  }

  std::string path_;
  archive* a_;
  bool ok_ = false;
};

absl::Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot sync ", path));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> MakeConfig(const std::vector<LoadableImage>& chain) {
  if (chain.empty()) return absl::InvalidArgumentError("no images");
  json c = json::parse(chain.back().json, nullptr, false);
  if (!c.is_object()) return absl::InvalidArgumentError("the top image json is not an object");
  for (const char* k : {"id", "parent", "Size", "parent_id", "layer_id", "throwaway"}) {
    c.erase(k);
  }
  json diff_ids = json::array();
  json history = json::array();
  for (const LoadableImage& img : chain) {
    diff_ids.push_back(img.diff_id);
    json v = json::parse(img.json, nullptr, false);
    json h = json::object();
    if (v.is_object()) {
      if (v.contains("created") && v["created"].is_string()) h["created"] = v["created"];
      if (v.contains("author") && v["author"].is_string() && !v["author"].get<std::string>().empty()) {
        h["author"] = v["author"];
      }
      if (v.contains("comment") && v["comment"].is_string() && !v["comment"].get<std::string>().empty()) {
        h["comment"] = v["comment"];
      }
      // docker: created_by = strings.Join(container_config.Cmd, " ")
      auto cc = v.find("container_config");
      if (cc != v.end() && cc->is_object() && cc->contains("Cmd") && (*cc)["Cmd"].is_array()) {
        std::string by;
        for (const json& part : (*cc)["Cmd"]) {
          if (!part.is_string()) continue;
          if (!by.empty()) by += " ";
          by += part.get<std::string>();
        }
        if (!by.empty()) h["created_by"] = by;
      }
    }
    history.push_back(h);
  }
  c["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  c["history"] = history;
  return Dump(c);
}

absl::Status WriteLoadableArchive(const std::string& path, const std::string& repo,
                                  const std::string& tag,
                                  const std::vector<LoadableImage>& chain) {
  absl::StatusOr<std::string> config = MakeConfig(chain);
  if (!config.ok()) return config.status();
  std::string config_name = Sha256Hex(*config) + ".json";
  json layers = json::array();
  for (const LoadableImage& img : chain) layers.push_back(img.id + "/layer.tar");
  std::string ref = absl::StrCat(repo, ":", tag);
  json manifest = json::array(
      {{{"Config", config_name}, {"RepoTags", json::array({ref})}, {"Layers", layers}}});
  json repositories = {{repo, {{tag, chain.back().id}}}};

  std::string tmp = absl::StrCat(path, ".tmp-", RandomHex(6));
  absl::Status s = [&]() -> absl::Status {
    TarWriter w(tmp);
    if (absl::Status st = w.status(); !st.ok()) return st;
    for (const LoadableImage& img : chain) {
      if (absl::Status st = w.Dir(img.id + "/"); !st.ok()) return st;
      if (absl::Status st = w.File(img.id + "/VERSION", "1.0"); !st.ok()) return st;
      if (absl::Status st = w.File(img.id + "/json", img.json); !st.ok()) return st;
      if (absl::Status st = w.FileFrom(img.id + "/layer.tar", img.layer_path); !st.ok()) {
        return st;
      }
    }
    if (absl::Status st = w.File(config_name, *config); !st.ok()) return st;
    if (absl::Status st = w.File("manifest.json", Dump(manifest)); !st.ok()) return st;
    if (absl::Status st = w.File("repositories", Dump(repositories)); !st.ok()) return st;
    if (absl::Status st = w.Close(); !st.ok()) return st;
    if (absl::Status st = SyncFile(tmp); !st.ok()) return st;
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
    }
    return absl::OkStatus();
  }();
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

}  // namespace berth::v1client
