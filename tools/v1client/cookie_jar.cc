#include "tools/v1client/cookie_jar.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace berth::v1client {
namespace {

// RFC 6265 §5.1.4 default path: the request path up to its last '/'.
std::string DefaultPath(absl::string_view request_path) {
  request_path = request_path.substr(0, request_path.find('?'));
  size_t slash = request_path.rfind('/');
  if (request_path.empty() || request_path[0] != '/' || slash == 0 ||
      slash == absl::string_view::npos) {
    return "/";
  }
  return std::string(request_path.substr(0, slash));
}

bool PathMatches(absl::string_view request_path, absl::string_view cookie_path) {
  request_path = request_path.substr(0, request_path.find('?'));
  if (!absl::StartsWith(request_path, cookie_path)) return false;
  return request_path.size() == cookie_path.size() ||
         cookie_path.back() == '/' || request_path[cookie_path.size()] == '/';
}

}  // namespace

void CookieJar::Store(absl::string_view host, absl::string_view request_path,
                      absl::string_view set_cookie, absl::Time now) {
  std::vector<absl::string_view> parts = absl::StrSplit(set_cookie, ';');
  absl::string_view pair = absl::StripAsciiWhitespace(parts[0]);
  size_t eq = pair.find('=');
  if (eq == absl::string_view::npos || eq == 0) return;
  std::string name(absl::StripAsciiWhitespace(pair.substr(0, eq)));
  Cookie c;
  c.value = std::string(absl::StripAsciiWhitespace(pair.substr(eq + 1)));
  std::string path = DefaultPath(request_path);
  bool have_max_age = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view attr = absl::StripAsciiWhitespace(parts[i]);
    size_t aeq = attr.find('=');
    std::string key = absl::AsciiStrToLower(attr.substr(0, aeq));
    absl::string_view val =
        aeq == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(attr.substr(aeq + 1));
    if (key == "path" && absl::StartsWith(val, "/")) {
      path = std::string(val);
    } else if (key == "max-age") {
      int64_t secs = 0;
      if (absl::SimpleAtoi(val, &secs)) {
        have_max_age = true;
        c.expires = secs <= 0 ? absl::InfinitePast() : now + absl::Seconds(secs);
      }
    } else if (key == "expires" && !have_max_age) {
      absl::Time t;
      std::string err;
      if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(val), &t, &err)) {
        c.expires = t;
      }
    }
  }
  auto key = std::make_tuple(absl::AsciiStrToLower(host), path, name);
  if (c.expires <= now) {
    cookies_.erase(key);
    return;
  }
  cookies_[key] = std::move(c);
}

std::string CookieJar::CookieHeader(absl::string_view host,
                                    absl::string_view path,
                                    absl::Time now) const {
  std::string h = absl::AsciiStrToLower(host);
  // Longer paths first (RFC 6265 §5.4 step 2).
  std::vector<std::pair<size_t, std::string>> found;
  for (const auto& [key, c] : cookies_) {
    const auto& [chost, cpath, name] = key;
    if (chost != h || c.expires <= now || !PathMatches(path, cpath)) continue;
    found.emplace_back(cpath.size(), name + "=" + c.value);
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [len, kv] : found) {
    if (!out.empty()) out += "; ";
    out += kv;
  }
  return out;
}

}  // namespace berth::v1client
