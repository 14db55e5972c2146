#include "tools/v1client/docker_archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"
#include "tools/v1client/files.h"

namespace berth::v1client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

absl::Status Bad(const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat("bad docker save archive: ", msg));
}

absl::StatusOr<json> ReadJson(const std::string& path, const std::string& what) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return Bad(absl::StrCat(what, " is missing"));
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return Bad(absl::StrCat(what, " is not valid JSON"));
  return j;
}

std::string NormalizeRef(std::string ref) {
  absl::string_view r = ref;
  absl::ConsumePrefix(&r, "docker.io/");
  absl::ConsumePrefix(&r, "library/");
  return std::string(r);
}

// j[key] if it is a string, else "" (json::value would throw on a type
// mismatch, and archives are untrusted input).
std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// j[key] if it is an array (or object), else an empty one.
json Arr(const json& j, const char* key) {
  if (!j.is_object()) return json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : json::array();
}
json Obj(const json& j, const char* key) {
  if (!j.is_object()) return json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool IsIndexType(const std::string& media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

}  // namespace

const char* LayoutName(ArchiveLayout layout) {
  switch (layout) {
    case ArchiveLayout::kLegacy: return "legacy";
    case ArchiveLayout::kManifest: return "manifest";
    case ArchiveLayout::kOci: return "oci";
  }
  return "?";
}

DockerArchive::~DockerArchive() {
  if (!dir_.empty()) RemoveAll(dir_).IgnoreError();
}

absl::StatusOr<std::unique_ptr<DockerArchive>> DockerArchive::Open(
    const std::string& path, const std::string& work_parent) {
  std::unique_ptr<DockerArchive> a(new DockerArchive());
  absl::StatusOr<std::string> dir = MakeTempDir("berth-archive-", work_parent);
  if (!dir.ok()) return dir.status();
  a->dir_ = *dir;
  if (absl::Status s = a->Extract(path); !s.ok()) return s;
  absl::Status s;
  if (FileExists(a->dir_ + "/manifest.json")) {
    a->layout_ = FileExists(a->dir_ + "/index.json") ? ArchiveLayout::kOci
                                                      : ArchiveLayout::kManifest;
    s = a->ReadManifest();
  } else if (FileExists(a->dir_ + "/index.json")) {
    a->layout_ = ArchiveLayout::kOci;
    s = a->ReadOci();
  } else {
    a->layout_ = ArchiveLayout::kLegacy;
    s = a->ReadLegacy();
  }
  if (!s.ok()) return s;
  if (a->images_.empty()) return Bad("it holds no image");
  return a;
}

absl::Status DockerArchive::Extract(const std::string& path) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (!FileExists(path)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read archive ", path, ": no such file"));
  }
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a readable tar archive: ", archive_error_string(a.get())));
  }
  archive_entry* e = nullptr;
  std::vector<char> buf(1 << 20);
  int entries = 0;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is not a readable tar archive: ", archive_error_string(a.get())));
    }
    ++entries;
    absl::StatusOr<std::string> dest = SafeJoin(dir_, archive_entry_pathname(e));
    if (!dest.ok()) return Bad(std::string(dest.status().message()));
    std::string d = *dest;
    while (absl::EndsWith(d, "/")) d.pop_back();
    std::error_code ec;
    fs::create_directories(fs::path(d).parent_path(), ec);
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        fs::create_directories(d, ec);
        break;
      case AE_IFREG: {
        std::ofstream out(d, std::ios::binary | std::ios::trunc);
        for (;;) {
          la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
          if (n < 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                path, " is truncated or corrupt: ", archive_error_string(a.get())));
          }
          if (n == 0) break;
          out.write(buf.data(), n);
        }
        out.close();
        if (!out) return absl::InternalError(absl::StrCat("cannot write ", d));
        break;
      }
      case AE_IFLNK: {
        // docker save links identical layer.tar files between folders
        // ("../<id>/layer.tar"); keep links that stay inside the archive.
        const char* target = archive_entry_symlink(e);
        if (target == nullptr) break;
        std::string rel = fs::path(archive_entry_pathname(e)).parent_path() / target;
        rel = fs::path(rel).lexically_normal().string();
        if (SafeJoin(dir_, rel).ok()) fs::create_symlink(target, d, ec);
        break;
      }
      default:
        break;  // devices etc. have no place in a save archive
    }
  }
  if (entries == 0) return Bad(absl::StrCat(path, " is empty"));
  return absl::OkStatus();
}

absl::Status DockerArchive::ReadLegacy() {
  // id -> parent for every folder with a json
  std::map<std::string, std::string> parents;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    std::string id = entry.path().filename().string();
    if (!IsSha256Hex(id) || !FileExists(entry.path().string() + "/json")) continue;
    absl::StatusOr<json> j = ReadJson(entry.path().string() + "/json", id + "/json");
    if (!j.ok()) return j.status();
    if (!j->is_object() || Str(*j, "id") != id) {
      return Bad(absl::StrCat(id, "/json does not carry id ", id));
    }
    parents[id] = j->contains("parent") && (*j)["parent"].is_string()
                      ? (*j)["parent"].get<std::string>()
                      : "";
  }
  if (parents.empty()) {
    return Bad("no manifest.json, index.json or image folders (<id>/json) found");
  }
  auto chain_of = [&](const std::string& top) -> absl::StatusOr<std::vector<V1Image>> {
    std::vector<V1Image> chain;
    std::set<std::string> seen;
    for (std::string cur = top; !cur.empty();) {
      if (!parents.count(cur)) return Bad(absl::StrCat("image ", cur, " is missing"));
      if (!seen.insert(cur).second) return Bad("the parent chain has a cycle");
      V1Image img;
      img.id = cur;
      img.parent = parents[cur];
      absl::StatusOr<std::string> bytes = ReadFileToString(dir_ + "/" + cur + "/json");
      if (!bytes.ok()) return bytes.status();
      img.json = *bytes;
      img.layer_path = dir_ + "/" + cur + "/layer.tar";
      absl::StatusOr<uint64_t> size = FileSize(img.layer_path);
      if (!size.ok()) return Bad(absl::StrCat(cur, "/layer.tar is missing"));
      img.layer_size = *size;
      chain.insert(chain.begin(), std::move(img));
      cur = parents[cur];
    }
    return chain;
  };
  if (FileExists(dir_ + "/repositories")) {
    absl::StatusOr<json> repos = ReadJson(dir_ + "/repositories", "repositories");
    if (!repos.ok()) return repos.status();
    if (!repos->is_object()) return Bad("repositories is not an object");
    std::map<std::string, size_t> by_top;
    for (const auto& [repo, tags] : repos->items()) {
      if (!tags.is_object()) return Bad("repositories is malformed");
      for (const auto& [tag, id] : tags.items()) {
        if (!id.is_string()) return Bad("repositories is malformed");
        std::string top = id.get<std::string>();
        auto it = by_top.find(top);
        if (it == by_top.end()) {
          absl::StatusOr<std::vector<V1Image>> chain = chain_of(top);
          if (!chain.ok()) return chain.status();
          it = by_top.emplace(top, images_.size()).first;
          images_.push_back(ArchiveImage{*std::move(chain), {}});
        }
        images_[it->second].repo_tags.push_back(repo + ":" + tag);
      }
    }
    if (!images_.empty()) return absl::OkStatus();
  }
  // Untagged: every image nobody names as parent is a top.
  std::set<std::string> named;
  for (const auto& [id, parent] : parents) named.insert(parent);
  for (const auto& [id, parent] : parents) {
    if (named.count(id)) continue;
    absl::StatusOr<std::vector<V1Image>> chain = chain_of(id);
    if (!chain.ok()) return chain.status();
    images_.push_back(ArchiveImage{*std::move(chain), {}});
  }
  return absl::OkStatus();
}

absl::Status DockerArchive::ReadManifest() {
  absl::StatusOr<json> m = ReadJson(dir_ + "/manifest.json", "manifest.json");
  if (!m.ok()) return m.status();
  if (!m->is_array()) return Bad("manifest.json is not a list");
  for (const json& entry : *m) {
    if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string() ||
        !entry.contains("Layers") || !entry["Layers"].is_array()) {
      return Bad("a manifest.json entry lacks Config or Layers");
    }
    absl::StatusOr<std::string> config = SafeJoin(dir_, entry["Config"].get<std::string>());
    if (!config.ok()) return Bad(std::string(config.status().message()));
    std::vector<std::string> layers;
    for (const json& l : entry["Layers"]) {
      if (!l.is_string()) return Bad("manifest.json Layers must be paths");
      absl::StatusOr<std::string> p = SafeJoin(dir_, l.get<std::string>());
      if (!p.ok()) return Bad(std::string(p.status().message()));
      layers.push_back(*p);
    }
    std::vector<std::string> tags;
    if (entry.contains("RepoTags") && entry["RepoTags"].is_array()) {
      for (const json& t : entry["RepoTags"]) {
        if (t.is_string()) tags.push_back(t.get<std::string>());
      }
    }
    if (absl::Status s = AddConfigImage(*config, layers, tags); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status DockerArchive::ReadOci() {
  absl::StatusOr<json> index = ReadJson(dir_ + "/index.json", "index.json");
  if (!index.ok()) return index.status();
  auto blob_path = [&](const json& desc) -> std::string {
    std::string digest = Str(desc, "digest");
    size_t colon = digest.find(':');
    if (colon == std::string::npos) return "";
    absl::StatusOr<std::string> p = SafeJoin(
        dir_, absl::StrCat("blobs/", digest.substr(0, colon), "/", digest.substr(colon + 1)));
    return p.ok() ? *p : "";
  };
  // Depth-first through nested indexes; an index may name blobs that were
  // not exported (other platforms), which are skipped.
  std::function<absl::Status(const json&, const std::vector<std::string>&, int)> visit =
      [&](const json& desc, const std::vector<std::string>& tags, int depth) -> absl::Status {
    if (depth > 4) return Bad("index.json nests too deeply");
    std::string path = blob_path(desc);
    if (path.empty() || !FileExists(path)) return absl::OkStatus();
    absl::StatusOr<json> doc = ReadJson(path, "blob " + Str(desc, "digest"));
    if (!doc.ok()) return doc.status();
    std::string media = Str(desc, "mediaType");
    if (media.empty()) media = Str(*doc, "mediaType");
    if (IsIndexType(media) || doc->contains("manifests")) {
      std::vector<json> present;
      for (const json& child : Arr(*doc, "manifests")) {
        std::string p = blob_path(child);
        if (!p.empty() && FileExists(p)) present.push_back(child);
      }
      // Prefer linux/amd64 when several platforms were exported.
      for (const json& child : present) {
        json plat = Obj(child, "platform");
        if (Str(plat, "os") == "linux" && Str(plat, "architecture") == "amd64") {
          return visit(child, tags, depth + 1);
        }
      }
      if (!present.empty()) return visit(present.front(), tags, depth + 1);
      return absl::OkStatus();
    }
    if (!doc->contains("config") || !doc->contains("layers")) {
      return Bad(absl::StrCat("blob ", Str(desc, "digest"), " is not an image manifest"));
    }
    std::string config = blob_path(Obj(*doc, "config"));
    if (config.empty()) return Bad("a manifest has no config digest");
    std::vector<std::string> layers;
    for (const json& l : Arr(*doc, "layers")) {
      std::string p = blob_path(l);
      if (p.empty() || !FileExists(p)) {
        return Bad(absl::StrCat("layer blob ", Str(l, "digest"), " is missing"));
      }
      layers.push_back(p);
    }
    return AddConfigImage(config, layers, tags);
  };
  for (const json& desc : Arr(*index, "manifests")) {
    std::vector<std::string> tags;
    json ann = Obj(desc, "annotations");
    if (ann.contains("io.containerd.image.name")) {
      tags.push_back(NormalizeRef(Str(ann, "io.containerd.image.name")));
    }
    if (absl::Status s = visit(desc, tags, 0); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status DockerArchive::AddConfigImage(const std::string& config_path,
                                           const std::vector<std::string>& layer_paths,
                                           std::vector<std::string> repo_tags) {
  absl::StatusOr<json> config = ReadJson(config_path, "image config");
  if (!config.ok()) return config.status();
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> chain =
      DeriveV1Chain(*config);
  if (!chain.ok()) return chain.status();
  const json& diff_ids = (*config)["rootfs"]["diff_ids"];
  if (diff_ids.size() != layer_paths.size()) {
    return Bad(absl::StrCat("the config names ", diff_ids.size(), " layers, the manifest ",
                            layer_paths.size()));
  }
  ArchiveImage image;
  image.repo_tags = std::move(repo_tags);
  std::string parent;
  for (size_t i = 0; i < layer_paths.size(); ++i) {
    absl::StatusOr<std::string> diff = DiffIdOfFile(layer_paths[i]);
    if (!diff.ok()) return Bad(std::string(diff.status().message()));
    if (*diff != diff_ids[i].get<std::string>()) {
      return Bad(absl::StrCat("layer ", i, " (", layer_paths[i].substr(dir_.size() + 1),
                              ") does not match the config's diff_id ",
                              diff_ids[i].get<std::string>()));
    }
    V1Image img;
    img.id = (*chain)[i].first;
    img.json = (*chain)[i].second;
    img.parent = parent;
    img.layer_path = layer_paths[i];
    absl::StatusOr<uint64_t> size = FileSize(img.layer_path);
    if (!size.ok()) return size.status();
    img.layer_size = *size;
    parent = img.id;
    image.chain.push_back(std::move(img));
  }
  images_.push_back(std::move(image));
  return absl::OkStatus();
}

absl::StatusOr<const ArchiveImage*> DockerArchive::Select(const std::string& repo,
                                                          const std::string& tag) const {
  if (images_.size() == 1) return &images_[0];
  std::string want = NormalizeRef(repo + ":" + tag);
  std::vector<const ArchiveImage*> hits;
  std::vector<std::string> all;
  for (const ArchiveImage& img : images_) {
    bool hit = false;
    for (const std::string& t : img.repo_tags) {
      all.push_back(t);
      if (NormalizeRef(t) == want) hit = true;
    }
    if (hit) hits.push_back(&img);
  }
  if (hits.size() == 1) return hits[0];
  return absl::InvalidArgumentError(absl::StrCat(
      "the archive holds ", images_.size(), " images; none is tagged ", want,
      " (it has: ", all.empty() ? "no tags" : absl::StrJoin(all, ", "), ")"));
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DeriveV1Chain(
    const json& config) {
  if (!config.is_object() || !config.contains("rootfs") ||
      !config["rootfs"].is_object() || !config["rootfs"].contains("diff_ids") ||
      !config["rootfs"]["diff_ids"].is_array()) {
    return Bad("the image config has no rootfs.diff_ids");
  }
  const json& diff_ids = config["rootfs"]["diff_ids"];
  if (diff_ids.empty()) return Bad("the image has no layers");
  for (const json& d : diff_ids) {
    if (!d.is_string() || !absl::StartsWith(d.get<std::string>(), "sha256:") ||
        !IsSha256Hex(d.get<std::string>().substr(7))) {
      return Bad("a diff_id is not sha256:<hex>");
    }
  }
  std::vector<json> history;
  for (const json& h : Arr(config, "history")) {
    if (h.is_object() && !(h.contains("empty_layer") && h["empty_layer"] == true)) history.push_back(h);
  }
  bool use_history = history.size() == diff_ids.size();
  std::vector<std::pair<std::string, std::string>> out;
  std::string chain_id, parent;
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    const std::string diff = diff_ids[i].get<std::string>();
    chain_id = i == 0 ? diff : "sha256:" + Sha256Hex(chain_id + " " + diff);
    json v;
    if (i + 1 == diff_ids.size()) {
      v = config;
      v.erase("rootfs");
      v.erase("history");
      v.erase("id");
      v.erase("parent");
    } else {
      v = json::object();
      v["created"] = Str(config, "created");
      if (use_history) {
        const json& h = history[i];
        if (h.contains("created")) v["created"] = h["created"];
        if (h.contains("created_by")) {
          v["container_config"] = {{"Cmd", json::array({h["created_by"]})}};
        }
        if (h.contains("author")) v["author"] = h["author"];
        if (h.contains("comment")) v["comment"] = h["comment"];
      }
      for (const char* key : {"architecture", "os"}) {
        if (config.contains(key)) v[key] = config[key];
      }
    }
    if (!parent.empty()) v["parent"] = parent;
    json id_input = v;
    id_input["layer_id"] = chain_id;
    std::string id = Sha256Hex(Dump(id_input));
    v["id"] = id;
    out.emplace_back(id, Dump(v));
    parent = id;
  }
  return out;
}

}  // namespace berth::v1client
