// Checks shared by the bridge process tests: that a pulled archive is what
// `docker load` expects, and that its layers/jsons equal what was pushed.
#ifndef BERTH_TESTS_BRIDGE_CHECK_H_
#define BERTH_TESTS_BRIDGE_CHECK_H_

#include <map>
#include <string>
#include <vector>

namespace berth::testing {

// What was pushed, base first.
struct PushedImage {
  std::string id;
  std::string json;
  std::string layer;  // bytes as sent (before any encryption)
};

// Adds gtest failures unless `entries` (a pulled archive) has, for
// repo:tag, exactly `chain` (ids, json bytes, layer bytes, parent links)
// and consistent manifest.json / config / repositories / VERSION files.
void ExpectLoadableArchive(const std::map<std::string, std::string>& entries,
                           const std::string& repo, const std::string& tag,
                           const std::vector<PushedImage>& chain);

// The chain push sends for `archive` (read with the client library).
std::vector<PushedImage> ChainOf(const std::string& archive);

}  // namespace berth::testing

#endif  // BERTH_TESTS_BRIDGE_CHECK_H_
