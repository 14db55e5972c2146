#include "frontend/tar/tarsum.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace berth::tar {
namespace {

// Strip one leading "./", then one trailing "/" (spec §3.2.5 rule 3).
std::string Normalize(std::string name) {
  if (absl::StartsWith(name, "./")) name = name.substr(2);
  if (absl::EndsWith(name, "/")) name.pop_back();
  return name;
}

}  // namespace

std::string TarSumHeader(const TarEntry& e, TarSum::Version version) {
  std::string h = absl::StrCat("name", e.name, "mode", e.mode, "uid", e.uid,
                               "gid", e.gid, "size", e.size);
  if (version == TarSum::Version::kV0) absl::StrAppend(&h, "mtime", e.mtime);
  h += "typeflag";
  h.push_back(e.typeflag);
  absl::StrAppend(&h, "linkname", e.linkname, "uname", e.uname, "gname",
                  e.gname, "devmajor", e.devmajor, "devminor", e.devminor);
  if (version == TarSum::Version::kV1) {
    for (const auto& [key, value] : e.xattrs) absl::StrAppend(&h, key, value);
  }
  return h;
}

bool IsTarSum(const std::string& value) {
  absl::string_view v = value;
  if (!absl::ConsumePrefix(&v, "tarsum")) return false;
  if (!absl::ConsumePrefix(&v, ".v1")) absl::ConsumePrefix(&v, ".dev");
  return absl::ConsumePrefix(&v, "+sha256:") && IsSha256Hex(v);
}

TarSum::TarSum(Version version, std::string extra_payload)
    : version_(version), extra_payload_(std::move(extra_payload)) {}

void TarSum::OnEntry(const TarEntry& entry) {
  entry_hash_.Update(TarSumHeader(entry, version_));
  current_name_ = Normalize(entry.name);
}

void TarSum::OnData(absl::string_view data) { entry_hash_.Update(data); }

void TarSum::OnEntryEnd() {
  digests_.push_back({entry_hash_.HexDigest(), std::move(current_name_)});
}

std::string TarSum::Result() const {
  // Plain sort by digest, then entries sharing a normalised name refill
  // the positions their group occupies in archive order (§3.2.5).
  std::vector<size_t> order(digests_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return digests_[a].hex < digests_[b].hex;
  });
  std::map<std::string, std::vector<size_t>> positions;  // name -> slots
  for (size_t slot = 0; slot < order.size(); ++slot) {
    positions[digests_[order[slot]].normalized_name].push_back(slot);
  }
  for (auto& [name, slots] : positions) {
    if (slots.size() < 2) continue;
    std::vector<size_t> members;
    for (size_t slot : slots) members.push_back(order[slot]);
    std::sort(members.begin(), members.end());  // archive order
    for (size_t i = 0; i < slots.size(); ++i) order[slots[i]] = members[i];
  }
  Sha256 final_hash;
  final_hash.Update(extra_payload_);
  for (size_t index : order) final_hash.Update(digests_[index].hex);
  return absl::StrCat(version_ == Version::kV0 ? "tarsum" : "tarsum.v1",
                      "+sha256:", final_hash.HexDigest());
}

}  // namespace berth::tar
