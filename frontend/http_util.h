// Small HTTP helpers for the v1 answers (spec §1.9): error bodies, cache
// headers, Range parsing, tag metadata from User-Agent. Pure functions.
#ifndef BERTH_FRONTEND_HTTP_UTIL_H_
#define BERTH_FRONTEND_HTTP_UTIL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "frontend/http_exchange.h"

namespace berth::frontend {

// {"error": "<message>"} exactly as PY's json.dumps wrote it.
std::string ErrorBody(const std::string& message);
// A JSON string literal, e.g. "OK" with the quotes.
std::string JsonString(const std::string& value);

// Default headers of every JSON answer: no-cache (spec §1.9.1).
HeaderList NoCacheHeaders();
// Headers of a complete image's json/layer/ancestry (cacheable for a year).
HeaderList CacheableHeaders(absl::Time now, const std::string& content_type);

// RFC 1123 date, e.g. "Thu, 01 Jan 1970 00:00:00 GMT".
std::string HttpDate(absl::Time t);

struct ByteRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;  // inclusive; none = to the end
};
// Parses "bytes=<first>-[<last>]". Anything else (several ranges,
// suffix ranges, junk) is nullopt: the caller then answers the whole body.
std::optional<ByteRange> ParseRange(const std::string& header);

// Parses "a=1&b=x%20y" (percent-decoding, '+' as space); the first value
// of a repeated key wins.
std::map<std::string, std::string> ParseQuery(const std::string& query);

// Tag metadata (spec §2.5.5) from a User-Agent and the time of the PUT.
std::string TagMetadataJson(const std::string& user_agent, int64_t now_unix);
// The answer when no metadata is stored.
std::string DefaultTagMetadataJson();

}  // namespace berth::frontend

#endif  // BERTH_FRONTEND_HTTP_UTIL_H_
