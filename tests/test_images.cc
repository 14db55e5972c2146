#include "tests/test_images.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "tests/harness/process.h"

namespace berth::testing {
namespace {

std::string SyntheticJson(const std::string& id, const std::string& parent) {
  if (parent.empty()) return absl::StrCat("{\"id\":\"", id, "\"}");
  return absl::StrCat("{\"id\":\"", id, "\",\"parent\":\"", parent, "\"}");
}

absl::StatusOr<TestImage> Build(const std::string& id, const std::string& parent,
                                const std::string& json_file,
                                const std::string& layer_file) {
  TestImage image;
  image.id = id;
  image.parent = parent;
  image.layer_file = layer_file;
  if (json_file.empty()) {
    image.json = SyntheticJson(id, parent);
  } else {
    absl::StatusOr<std::string> json = ReadTestdata(json_file);
    if (!json.ok()) return json.status();
    image.json = *std::move(json);
    image.real_json = true;
  }
  absl::StatusOr<std::string> layer = ReadTestdata(layer_file);
  if (!layer.ok()) return layer.status();
  image.layer = *std::move(layer);
  image.payload_checksum = PayloadChecksum(image.json, image.layer);
  return image;
}

}  // namespace

absl::StatusOr<std::string> ReadTestdata(const std::string& relative) {
  std::string path = RunfilePath("testdata/v1/" + relative, "shared");
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::StatusOr<std::vector<TestImage>> LoadChain() {
  struct Spec {
    const char* id;
    const char* parent;
    std::string json_file;  // "" = synthetic
    std::string layer_file;
  };
  const std::vector<Spec> specs = {
      {kScratchId, "", absl::StrCat(kScratchId, "/json"),
       absl::StrCat(kScratchId, "/layer.tar.gz")},
      {kHelloId, kScratchId, "", "synthetic_hello.tar"},
      {kSudoersId, kHelloId, absl::StrCat(kSudoersId, "/json"),
       absl::StrCat(kSudoersId, "/layer.tar.gz")},
      {kCollisionId, kSudoersId, "", "collision/collision-0.tar"},
      {kXattrId, kCollisionId, absl::StrCat(kXattrId, "/json"),
       absl::StrCat(kXattrId, "/layer.tar.xz")},
  };
  std::vector<TestImage> chain;
  for (const Spec& s : specs) {
    absl::StatusOr<TestImage> image = Build(s.id, s.parent, s.json_file, s.layer_file);
    if (!image.ok()) return image.status();
    chain.push_back(*std::move(image));
  }
  return chain;
}

absl::StatusOr<TestImage> MakeImage(const std::string& seed,
                                    const std::string& parent,
                                    const std::string& layer_file) {
  return Build(Sha256Hex(seed), parent, "", layer_file);
}

}  // namespace berth::testing
