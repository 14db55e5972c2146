#include "frontend/http_util.h"

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace berth::frontend {

std::string JsonString(const std::string& value) {
  return nlohmann::json(value).dump();
}

std::string ErrorBody(const std::string& message) {
  return absl::StrCat("{\"error\": ", JsonString(message), "}");
}

HeaderList NoCacheHeaders() {
  return {{"Content-Type", "application/json"},
          {"Cache-Control", "no-cache"},
          {"Pragma", "no-cache"},
          {"Expires", "-1"}};
}

std::string HttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
}

HeaderList CacheableHeaders(absl::Time now, const std::string& content_type) {
  return {{"Content-Type", content_type},
          {"Cache-Control", "public, max-age=31536000"},
          {"Expires", HttpDate(now + absl::Hours(24 * 365))},
          {"Last-Modified", HttpDate(absl::UnixEpoch())}};
}

std::optional<ByteRange> ParseRange(const std::string& header) {
  absl::string_view h = absl::StripAsciiWhitespace(header);
  if (!absl::ConsumePrefix(&h, "bytes=")) return std::nullopt;
  size_t dash = h.find('-');
  if (dash == absl::string_view::npos || dash == 0) return std::nullopt;
  ByteRange r;
  if (!absl::SimpleAtoi(h.substr(0, dash), &r.first)) return std::nullopt;
  absl::string_view last = h.substr(dash + 1);
  if (!last.empty()) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(last, &v)) return std::nullopt;
    r.last = v;
  }
  return r;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%' && i + 2 < in.size() &&
               HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 +
                                      HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}
}  // namespace

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    size_t eq = part.find('=');
    std::string key = PercentDecode(part.substr(0, eq));
    std::string value =
        eq == absl::string_view::npos ? "" : PercentDecode(part.substr(eq + 1));
    out.emplace(std::move(key), std::move(value));
  }
  return out;
}

std::string TagMetadataJson(const std::string& user_agent, int64_t now_unix) {
  nlohmann::json meta = nlohmann::json::object();
  static const std::regex kPair(R"(([^\s/]+)/([^\s/]+))");
  for (auto it = std::sregex_iterator(user_agent.begin(), user_agent.end(),
                                      kPair);
       it != std::sregex_iterator(); ++it) {
    std::string key = (*it)[1], value = (*it)[2];
    if (key == "docker") {
      meta["docker_version"] = value;
    } else if (key == "go") {
      meta["docker_go_version"] = value;
    } else if (key == "arch" || key == "kernel" || key == "os") {
      meta[key] = absl::AsciiStrToLower(value);
    }
  }
  meta["last_update"] = now_unix;
  return meta.dump();
}

std::string DefaultTagMetadataJson() {
  return "{\"arch\": \"amd64\", \"docker_go_version\": null, "
         "\"docker_version\": null, \"kernel\": null, \"last_update\": null, "
         "\"os\": \"linux\"}";
}

}  // namespace berth::frontend
