// The checksum vectors of ../shared/testdata/v1/VECTORS.md through a real
// `berth serve` (spec §3): every real layer in every stored compression,
// uploaded with its byte-exact json, must be confirmed with the table's
// payload checksum, and — since the client sends no TarSum — GET json must
// show the server's TarSum v0, which equals the table's. Plus the synthetic
// vectors, non-tar layers (stored and verified, no TarSum), the client
// TarSum rules of §3.2.9 and the image-list checksum.
//
// One server per compression: a COMPLETE image is locked, and the real
// images' ids are fixed by their json.
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/conformance_util.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

struct LayerVector {
  const char* file_sha256;
  size_t bytes;
  const char* payload;
};

struct ImageVector {
  const char* id;
  const char* parent;  // pushed first as a synthetic image ("" = none)
  const char* tarsum_v0;
  size_t file_entries;  // GET …/files length
  std::map<std::string, LayerVector> layers;  // by file name
};

// Copied from VECTORS.md ("Payload checksums", "TarSums").
const std::vector<ImageVector>& Vectors() {
  static const auto* v = new std::vector<ImageVector>{
      {"511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158", "",
       "tarsum+sha256:ac672ee85da9ab7f9667ae3c32841d3e42f33cc52c273c23341dabba1c8b0c8b", 1,
       {{"layer.tar",
         {"af3826bf8b23218af544bc27c3b106ba77f119dced5749010270318c6cd06dc4", 1536,
          "sha256:728301b48ba3badfbe1dec727c2e1a2f04b0b25eaad4378b1585333cc5c4ec27"}},
        {"layer.tar.gz",
         {"77000a657b2f65d76a5ad71af42bfabe2a5297cd9ae4925dd0aad21bc7b12ab0", 81,
          "sha256:bf77d9f400b6daa5f110bc92da69bf8df470719c4f85c01c8b46f0b64ea247a7"}},
        {"layer.tar.bz2",
         {"f43f1b24e9868a4008880e6d2601f4036c74e5213d42a143e5eeed8b80621c63", 102,
          "sha256:ae51676a271ad593be305901f473ed8b5ef9ed3027f58d2ae6dcf8cd510df0b5"}},
        {"layer.tar.xz",
         {"64cd7a68960958bd24064c318ddbd4417138cf8a84d1babdba2ad2de3c7e884e", 132,
          "sha256:5a6c1a3f9d9c067d0ce836f0fada3e3d91d1b0308bcc1e04179af6bea948e5c1"}}}},
      {"46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457",
       "def3f9165934325dfd027c86530b2ea49bb57a0963eb1336b3a0415ff6fd56de",
       "tarsum+sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b", 9,
       {{"layer.tar",
         {"78eeafa78407c78ec33150a5798941cfabb9c19ee83d90010461567d6861200e", 9216,
          "sha256:18d68bf937c1af141cd3a95465d0290d5221768ed6e772f158f23e4a556685c1"}},
        {"layer.tar.gz",
         {"bdcf27c2381f06d6c67d2dede3a89889b3e1226318cae7ece5dc46af29ccf0e9", 1839,
          "sha256:5df0277741ec128a260d837119ccb597a681df57dfc1b3f567fabb6fcfc9e0cc"}},
        {"layer.tar.bz2",
         {"e356200058c439134030322d379c26aaa28c3ec7ab31c51176b6ccfc3e948b44", 1889,
          "sha256:2143d989f47e8a1ba4cad1918c5f11d43aa2e2215352fa62e8272cf80baf3b87"}},
        {"layer.tar.xz",
         {"2083bdcc27f3e0d1e510d64b19efbd4326776ba14a9b71cb6bf7767af1c46cbf", 1836,
          "sha256:3fded04dcc400eab81fe0c01c267fcd2bc09ca47c08c46ed6607ded70731293d"}}}},
      {"4439c3c7f847954100b42b267e7e5529cac1d6934db082f65795c5ca2e594d93",
       "73b164f4437db87e96e90083c73a6592f549646ae2ec00ed33c6b9b49a5c4470",
       "tarsum+sha256:e86f81a4d552f13039b1396ed03ca968ea9717581f9577ef1876ea6ff9b38c98", 1,
       {{"layer.tar",
         {"e0971e0a34f097a6ce7308a851aaeafdd66175ab10399edf0d06cc454c8c019b", 2560,
          "sha256:4ec4a1a5726966b01d9c453b96da3d8ca453a711e3826f3983e39a3be0c720d9"}},
        {"layer.tar.gz",
         {"1a37e200c33326fbb06bb6d606f74c4e6040a108a23c12677522afb90779f906", 172,
          "sha256:df9cfd27804bfb41347966bf3de67fe6402d4699035edb414a310687c6f2d480"}},
        {"layer.tar.bz2",
         {"979fdc94676acfc63747e6cbe00e320c5838b037ecef6609714c656d895275fe", 195,
          "sha256:22aa0f996ddf00519cdf9ccc0dab004e39aaa58b52abd88b6869521cb4290fac"}},
        {"layer.tar.xz",
         {"2c5cbbd18a2c891d68ae4cb94951b32bd174089a2ceeea1b5098f640eb6c6eab", 216,
          "sha256:19476e239ce415ff06265d4f1eb74afab21e6742e1f3152475531afbdc88543c"}}}},
  };
  return *v;
}

// VECTORS.md "Synthetic vectors": json {"id":"aaaa…a"}.
struct SyntheticVector {
  std::string layer;  // bytes
  const char* payload;
  const char* tarsum_v0;
};

std::string Read(const std::string& rel) {
  absl::StatusOr<std::string> s = ReadTestdata(rel);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

std::vector<SyntheticVector> Synthetics() {
  return {
      {Read("synthetic_hello.tar"),
       "sha256:fc7ea9f85466b06f8c9e16f9d7c32843d67f14d859d32e8baf20b73a173341bf",
       "tarsum+sha256:6b97be39eba15913377557401fd59755f2dbadaba1d96aafef75fe556d94ac4a"},
      {std::string(1024, '\0'),
       "sha256:581472b4307e173ca222c013ad346d4d55c3e84edc334bec605e3edcb8cab6e3",
       "tarsum+sha256:d561730190e99254d474d840d9013e14ceef3005414abfdb62dcbfb9f5e44823"},
      // VECTORS.md lists no TarSum ("n/a": not computed) for the 0-byte
      // layer; by §3.2.3 rule 1 ("if no bytes remain ... the archive ends")
      // it is an empty archive, so its TarSum is that of the empty tar.
      {"", "sha256:dc5829850d2bc0c40e36773efc83ce1b66e35c57af73609e17929156ef522c1c",
       "tarsum+sha256:d561730190e99254d474d840d9013e14ceef3005414abfdb62dcbfb9f5e44823"},
  };
}

class ServeFixture {
 public:
  void Start(const std::string& name) {
    dir_ = MakeTempDir("conformance-" + name + "-");
    port_ = FreePort();
    absl::StatusOr<std::unique_ptr<Process>> p =
        StartServeWith(port_, dir_ + "/data", dir_ + "/serve.log", {});
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
  }
  RegistryClient client() const { return RegistryClient("127.0.0.1", port_); }

 protected:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> serve_;
};

class VectorsTest : public ::testing::TestWithParam<std::string>, public ServeFixture {
 protected:
  void SetUp() override { Start("vectors"); }
};

// Parent ids the real json files name, pushed as synthetic root images.
void PushParents(const RegistryClient& c) {
  for (const ImageVector& v : Vectors()) {
    if (std::string(v.parent).empty()) continue;
    Image p{v.parent, absl::StrCat("{\"id\":\"", v.parent, "\"}"), "parent layer"};
    ASSERT_TRUE(PushComplete(c, p));
  }
}

TEST_P(VectorsTest, RealLayersPayloadAndTarSum) {
  const std::string file = GetParam();
  RegistryClient c = client();
  PushParents(c);
  int k = 0;
  for (const ImageVector& v : Vectors()) {
    SCOPED_TRACE(absl::StrCat(v.id, "/", file));
    const LayerVector& lv = v.layers.at(file);
    const std::string json_bytes = Read(absl::StrCat(v.id, "/json"));
    const std::string layer = Read(absl::StrCat(v.id, "/", file));
    // The test data is what VECTORS.md describes.
    ASSERT_EQ(layer.size(), lv.bytes);
    ASSERT_EQ(Sha256Hex(layer), lv.file_sha256);
    ASSERT_EQ(PayloadChecksum(json_bytes, layer), lv.payload);

    HttpResponse r = Must(c.PutImageJson(v.id, json_bytes));
    ASSERT_EQ(r.status, 200) << r.body;
    const bool chunked = (k++ + file.size()) % 2 == 0;
    r = Must(chunked ? c.PutLayerChunked(v.id, layer, 61) : c.PutLayer(v.id, layer));
    ASSERT_EQ(r.status, 200) << r.body;
    // The payload of another compression of the same tar is not this one.
    for (const auto& [other, olv] : v.layers) {
      if (other == file) continue;
      SCOPED_TRACE("payload of " + other);
      EXPECT_JSON_ERROR(Must(c.PutChecksum(v.id, olv.payload)), 400, "Checksum mismatch");
    }
    r = Must(c.PutChecksum(v.id, lv.payload));  // no X-Docker-Checksum sent
    ASSERT_EQ(r.status, 200) << r.body;

    r = Must(c.GetImageJson(v.id));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, json_bytes);
    EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"), lv.payload);
    EXPECT_EQ(r.Header("X-Docker-Checksum"), v.tarsum_v0)
        << "the server's TarSum v0 of " << file;
    EXPECT_EQ(r.Header("X-Docker-Size"), std::to_string(lv.bytes));
    r = Must(c.GetLayer(v.id));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(Sha256Hex(r.body), lv.file_sha256);
    // The file list is read through the same decompression.
    r = Must(c.Request("GET", absl::StrCat("/v1/images/", v.id, "/files")));
    EXPECT_EQ(r.status, 200) << r.body;
    json files = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(files.is_array() && files.size() == v.file_entries) << r.body;
  }
  // §3.2.9: the computed TarSum is the `checksum` of image-list entries
  // that have none.
  json list = json::array();
  for (const ImageVector& v : Vectors()) list.push_back({{"id", v.id}});
  ASSERT_EQ(Must(c.PutRepository("vectors/all", list.dump())).status, 200);
  HttpResponse r = Must(c.GetImageList("vectors/all"));
  EXPECT_EQ(r.status, 200) << r.body;
  json got = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(got.is_array() && got.size() == Vectors().size()) << r.body;
  for (size_t i = 0; i < Vectors().size(); ++i) {
    EXPECT_EQ(got[i], json({{"id", Vectors()[i].id}, {"checksum", Vectors()[i].tarsum_v0}}))
        << "image-list entry " << i;
  }
}

TEST_P(VectorsTest, SyntheticVector) {
  // One synthetic vector per server (they share the id aaaa…a).
  const std::vector<std::string> files = {"layer.tar", "layer.tar.gz", "layer.tar.bz2",
                                          "layer.tar.xz"};
  size_t index = 0;
  while (files[index] != GetParam()) ++index;
  const SyntheticVector v = Synthetics()[index % 3];
  const std::string id(64, 'a');
  Image img{id, absl::StrCat("{\"id\":\"", id, "\"}"), v.layer};
  ASSERT_EQ(img.payload(), v.payload);
  RegistryClient c = client();
  ASSERT_TRUE(PushComplete(c, img, /*chunked=*/index == 3));
  HttpResponse r = Must(c.GetImageJson(id));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"), v.payload);
  EXPECT_EQ(r.Header("X-Docker-Checksum"), v.tarsum_v0);
  r = Must(c.GetLayer(id));
  EXPECT_TRUE(r.body == v.layer);
}

INSTANTIATE_TEST_SUITE_P(Compressions, VectorsTest,
                         ::testing::Values("layer.tar", "layer.tar.gz", "layer.tar.bz2",
                                           "layer.tar.xz"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param.substr(6);  // "tar", "tar.gz"…
                           for (char& ch : n) {
                             if (ch == '.') ch = '_';
                           }
                           return n;
                         });

class NonTarTest : public ::testing::Test, public ServeFixture {
 protected:
  void SetUp() override { Start("nontar"); }
};

TEST_F(NonTarTest, RandomAndDamagedLayersAreStoredWithoutTarSum) {
  RegistryClient c = client();
  std::string damaged_gzip = "\x1f\x8b\x08" + RandomBytes(5000, 2);
  std::string tar = Read(absl::StrCat(Vectors()[1].id, "/layer.tar"));
  std::string cut_tar = tar.substr(0, 3000);
  struct Case {
    std::string name, layer;
  } cases[] = {{"random", RandomBytes(100 * 1024 + 7, 1)},
               {"damaged-gzip", damaged_gzip},
               {"cut-tar", cut_tar},
               {"text", "this is not a tar\n"}};
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Image img = Synthetic("nontar/" + k.name, "", k.layer);
    // A wrong checksum is still refused: the payload is verified.
    ASSERT_EQ(Must(c.PutImageJson(img.id, img.json)).status, 200);
    ASSERT_EQ(Must(c.PutLayerChunked(img.id, img.layer, 4096)).status, 200);
    EXPECT_JSON_ERROR(Must(c.PutChecksum(img.id, PayloadChecksum(img.json, k.layer + "!"))),
                      400, "Checksum mismatch");
    HttpResponse r = Must(c.PutChecksum(img.id, img.payload()));
    ASSERT_EQ(r.status, 200) << r.body;
    r = Must(c.GetImageJson(img.id));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"), img.payload());
    EXPECT_FALSE(r.Header("X-Docker-Checksum").has_value())
        << "a non-tar layer got a TarSum: " << *r.Header("X-Docker-Checksum");
    EXPECT_EQ(r.Header("X-Docker-Size"), std::to_string(k.layer.size()));
    r = Must(c.GetLayer(img.id));
    EXPECT_TRUE(r.body == k.layer);
    EXPECT_JSON_ERROR(Must(c.Request("GET", "/v1/images/" + img.id + "/files")), 400,
                      "Layer format not supported");
  }
}

TEST_F(NonTarTest, ClientTarSumIsStoredNeverChecked) {
  RegistryClient c = client();
  const std::string json_bytes = Read(absl::StrCat(Vectors()[0].id, "/json"));
  const std::string layer = Read(absl::StrCat(Vectors()[0].id, "/layer.tar.gz"));
  // The real scratch image with a (wrong but well-formed) client TarSum:
  // accepted, and shown instead of the computed one.
  const std::string client_sum = "tarsum.v1+sha256:" + std::string(64, 'c');
  Image real{Vectors()[0].id, json_bytes, layer};
  ASSERT_TRUE(PushComplete(c, real, false, client_sum));
  HttpResponse r = Must(c.GetImageJson(real.id));
  EXPECT_EQ(r.Header("X-Docker-Checksum"), client_sum);
  // A malformed client TarSum is ignored: the computed one is shown.
  for (const std::string& bad :
       {std::string("tarsum+md5:abc"), std::string("tarsum+sha256:") + std::string(64, 'C'),
        std::string("garbage")}) {
    SCOPED_TRACE(bad);
    Image img = Synthetic("client-tarsum/" + bad, "", Read("synthetic_hello.tar"));
    ASSERT_TRUE(PushComplete(c, img, false, bad));
    r = Must(c.GetImageJson(img.id));
    ASSERT_TRUE(r.Header("X-Docker-Checksum").has_value());
    EXPECT_NE(*r.Header("X-Docker-Checksum"), bad);
    EXPECT_TRUE(absl::StartsWith(*r.Header("X-Docker-Checksum"), "tarsum+sha256:"))
        << *r.Header("X-Docker-Checksum");
  }
}

}  // namespace
}  // namespace berth::testing
