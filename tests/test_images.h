// The test images of the push/pull tests: a 5-image chain built from the
// real layers in ../shared/testdata/v1, with byte-exact real json where the
// chain allows it (spec §3.1, testdata/v1/VECTORS.md):
//
//   511136ea… real json, layer.tar.gz               (root)
//   def3f916… synthetic json, synthetic_hello.tar
//   46af0962… real json (parent def3f916…), layer.tar.gz
//   73b164f4… synthetic json, collision/collision-0.tar
//   4439c3c7… real json (parent 73b164f4…), layer.tar.xz
#ifndef BERTH_TESTS_TEST_IMAGES_H_
#define BERTH_TESTS_TEST_IMAGES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/registry_client.h"

namespace berth::testing {

inline constexpr char kScratchId[] =
    "511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158";
inline constexpr char kHelloId[] =
    "def3f9165934325dfd027c86530b2ea49bb57a0963eb1336b3a0415ff6fd56de";
inline constexpr char kSudoersId[] =
    "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457";
inline constexpr char kCollisionId[] =
    "73b164f4437db87e96e90083c73a6592f549646ae2ec00ed33c6b9b49a5c4470";
inline constexpr char kXattrId[] =
    "4439c3c7f847954100b42b267e7e5529cac1d6934db082f65795c5ca2e594d93";

struct TestImage : PushImage {
  std::string layer_file;        // path under testdata/v1
  std::string payload_checksum;  // PayloadChecksum(json, layer)
  bool real_json = false;        // json is the testdata file, byte for byte
};

// Reads a runfile of @shared//:testdata_v1, e.g. "46af…/json".
absl::StatusOr<std::string> ReadTestdata(const std::string& relative);

// The chain above, root first.
absl::StatusOr<std::vector<TestImage>> LoadChain();

// A synthetic image: id = sha256(seed), json {"id":…,"parent":…}, layer
// read from testdata/v1/<layer_file>.
absl::StatusOr<TestImage> MakeImage(const std::string& seed,
                                    const std::string& parent,
                                    const std::string& layer_file);

}  // namespace berth::testing

#endif  // BERTH_TESTS_TEST_IMAGES_H_
