#include "frontend/routes.h"

#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth::frontend {
namespace {

struct Pattern {
  std::vector<std::string> suffix;  // "*" = exactly one segment
  Endpoint endpoint;
  std::set<std::string> methods;
};

// Spec §1.8 rule 2, in priority order.
const std::vector<Pattern>& RepoPatterns() {
  static const auto* patterns = new std::vector<Pattern>{
      {{"tags", "*", "json"}, Endpoint::kRepoTagJson, {"GET"}},
      {{"layer", "*", "access"}, Endpoint::kRepoLayerAccess, {"GET"}},
      {{"tags", "*"}, Endpoint::kRepoTag, {"GET", "PUT", "DELETE"}},
      {{"tags"}, Endpoint::kRepoTags, {"GET", "DELETE"}},
      {{"images"}, Endpoint::kRepoImages, {"GET", "PUT", "DELETE"}},
      {{"json"}, Endpoint::kRepoJson, {"GET"}},
      {{"auth"}, Endpoint::kRepoAuth, {"PUT"}},
      {{"properties"}, Endpoint::kRepoProperties, {"GET", "PUT"}},
  };
  return *patterns;
}

std::string AllowOf(const std::set<std::string>& methods) {
  std::set<std::string> all = methods;
  if (all.count("GET")) all.insert("HEAD");
  return absl::StrJoin(all, ", ");
}

Route NotFound() {
  Route r;
  r.error_status = 404;
  return r;
}

Route NotAllowed(const std::set<std::string>& methods) {
  Route r;
  r.error_status = 405;
  r.allow = AllowOf(methods);
  return r;
}

void SetName(const std::vector<std::string>& segs, size_t count, Route* r) {
  if (count == 1) {
    r->ns = "library";
    r->repo = segs[0];
  } else {
    r->ns = segs[0];
    r->repo = segs[1];
  }
}

// Tries the suffix patterns; on a fit fills `out` and returns true. Records
// the methods of patterns that fit the path but not the method.
bool MatchPatterns(const std::string& method,
                   const std::vector<std::string>& segs, Route* out,
                   std::set<std::string>* other_methods) {
  for (const Pattern& p : RepoPatterns()) {
    if (segs.size() < p.suffix.size() + 1 || segs.size() > p.suffix.size() + 2)
      continue;
    size_t name_len = segs.size() - p.suffix.size();
    bool fits = true;
    for (size_t i = 0; i < p.suffix.size(); ++i) {
      if (p.suffix[i] != "*" && p.suffix[i] != segs[name_len + i]) {
        fits = false;
        break;
      }
    }
    if (!fits) continue;
    if (!p.methods.count(method)) {
      other_methods->insert(p.methods.begin(), p.methods.end());
      continue;
    }
    out->endpoint = p.endpoint;
    SetName(segs, name_len, out);
    if (p.endpoint == Endpoint::kRepoTag || p.endpoint == Endpoint::kRepoTagJson)
      out->tag = segs[name_len + 1];
    if (p.endpoint == Endpoint::kRepoLayerAccess)
      out->image_id = segs[name_len + 1];
    return true;
  }
  return false;
}

bool MatchBare(const std::string& method, const std::vector<std::string>& segs,
               Route* out, std::set<std::string>* other_methods) {
  if (segs.size() != 1 && segs.size() != 2) return false;
  if (method != "PUT" && method != "DELETE") {
    other_methods->insert({"PUT", "DELETE"});
    return false;
  }
  out->endpoint = Endpoint::kRepository;
  SetName(segs, segs.size(), out);
  return true;
}

Route RouteRepository(const std::string& method, std::string rest) {
  bool trailing = absl::EndsWith(rest, "/");
  if (trailing) rest.pop_back();
  std::vector<std::string> segs = absl::StrSplit(rest, '/');
  for (const auto& s : segs) {
    if (s.empty()) return NotFound();
  }
  Route r;
  std::set<std::string> other;
  bool found;
  if ((method == "PUT" || method == "DELETE") && trailing) {
    found = MatchBare(method, segs, &r, &other) ||
            MatchPatterns(method, segs, &r, &other);
  } else {
    found = MatchPatterns(method, segs, &r, &other) ||
            MatchBare(method, segs, &r, &other);
  }
  if (found) return r;
  if (!other.empty()) return NotAllowed(other);
  return NotFound();
}

Route Fixed(const std::string& method, Endpoint endpoint,
            const std::set<std::string>& methods) {
  if (!methods.count(method)) return NotAllowed(methods);
  Route r;
  r.endpoint = endpoint;
  return r;
}

Route RouteImage(const std::string& method, std::string rest) {
  if (absl::EndsWith(rest, "/")) rest.pop_back();
  std::vector<std::string> segs = absl::StrSplit(rest, '/');
  if (segs.size() != 2 || segs[0].empty()) return NotFound();
  static const auto* kActions =
      new std::vector<std::pair<std::string, std::pair<Endpoint, std::set<std::string>>>>{
          {"json", {Endpoint::kImageJson, {"GET", "PUT"}}},
          {"layer", {Endpoint::kImageLayer, {"GET", "PUT"}}},
          {"checksum", {Endpoint::kImageChecksum, {"PUT"}}},
          {"ancestry", {Endpoint::kImageAncestry, {"GET"}}},
          {"files", {Endpoint::kImageFiles, {"GET"}}},
          {"diff", {Endpoint::kImageDiff, {"GET"}}},
      };
  for (const auto& [action, spec] : *kActions) {
    if (segs[1] != action) continue;
    Route r = Fixed(method, spec.first, spec.second);
    r.image_id = segs[0];
    return r;
  }
  return NotFound();
}

}  // namespace

Route ResolveRoute(const std::string& raw_method, const std::string& target) {
  const std::string method = raw_method == "HEAD" ? "GET" : raw_method;
  std::string path = target;
  std::string query;
  if (size_t q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path.resize(q);
  }
  Route r;
  auto strip = [](std::string p) {
    if (p.size() > 1 && absl::EndsWith(p, "/")) p.pop_back();
    return p;
  };
  const std::string p = strip(path);
  if (p == "/v2" || absl::StartsWith(path, "/v2/")) {
    r.endpoint = Endpoint::kV2;
  } else if (p == "/_ping" || p == "/v1/_ping") {
    r = Fixed(method, Endpoint::kPing, {"GET"});
  } else if (p == "/") {
    r = Fixed(method, Endpoint::kRoot, {"GET"});
  } else if (p == "/v1/users") {
    r = Fixed(method, Endpoint::kUsers, {"GET", "POST"});
  } else if (p == "/v1/search") {
    r = Fixed(method, Endpoint::kSearch, {"GET"});
  } else if (absl::StartsWith(path, "/v1/users/")) {
    std::string name = strip(path.substr(10));
    if (name.empty() || name.find('/') != std::string::npos) return NotFound();
    r = Fixed(method, Endpoint::kUser, {"PUT"});
    r.username = name;
  } else if (absl::StartsWith(path, "/v1/images/")) {
    r = RouteImage(method, path.substr(11));
  } else if (absl::StartsWith(path, "/v1/repositories/")) {
    r = RouteRepository(method, path.substr(17));
  } else {
    return NotFound();
  }
  r.query = query;
  return r;
}

}  // namespace berth::frontend
