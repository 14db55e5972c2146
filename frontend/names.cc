#include "frontend/names.h"

#include "absl/strings/match.h"

namespace berth::frontend {
namespace {

bool AllOf(absl::string_view s, absl::string_view allowed_extra) {
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              allowed_extra.find(c) != absl::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

bool ValidImageId(absl::string_view id) {
  return (id.size() == 64 || id.size() == 16) && IsLowerHex(id);
}

bool ValidNamespace(absl::string_view ns) {
  return ns.size() >= 2 && ns.size() <= 255 && AllOf(ns, "_-") &&
         ns.front() != '-' && ns.back() != '-' && !absl::StrContains(ns, "--");
}

bool ValidRepository(absl::string_view repo) {
  return !repo.empty() && repo.size() <= 255 && AllOf(repo, "_.-");
}

bool ValidTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(tag[0])) return false;
  for (char c : tag.substr(1)) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

std::string CheckRepositoryName(const std::string& ns, const std::string& repo,
                                bool one_component) {
  if (!ValidNamespace(ns)) return "Invalid namespace name";
  if (!ValidRepository(repo)) return "Invalid repository name";
  // docker refuses one-component names that look like image ids; so do we.
  if (one_component && repo.size() == 64 && IsLowerHex(repo)) {
    return "Invalid repository name";
  }
  return "";
}

}  // namespace berth::frontend
