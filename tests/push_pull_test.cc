// End-to-end push and pull of a 5-image chain (tests/test_images.h) through
// the v1 API, on the embedded registry (`berth serve`) and on a local
// cluster (`tools/berth-cluster`: 3 etcd, metad, blobd, frontend):
//  * pulled json and layers are byte-identical to what was pushed, tags,
//    ancestry and the image list are as pushed, the payload checksums of the
//    real images equal testdata/v1/VECTORS.md;
//  * layer Range requests (206 / 416, spec §2.6.3);
//  * nothing acknowledged is lost when the serve process, or the cluster's
//    metad, is killed with SIGKILL and restarted; pushing continues after;
//  * bad input (spec §4.4): wrong checksum, cut-off uploads (Content-Length
//    and chunked), missing checksum header, conflicts, bad ids, unknown
//    parent — a clear 4xx and nothing published.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/berth_serve.h"
#include "tests/cluster_launcher.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

constexpr char kRepo[] = "foo/bar";

// Copied from testdata/v1/VECTORS.md, table "Payload checksums".
// 511136ea… with layer.tar.gz:
constexpr char kScratchGzPayload[] =
    "sha256:bf77d9f400b6daa5f110bc92da69bf8df470719c4f85c01c8b46f0b64ea247a7";
// 46af0962… with layer.tar.gz:
constexpr char kSudoersGzPayload[] =
    "sha256:5df0277741ec128a260d837119ccb597a681df57dfc1b3f567fabb6fcfc9e0cc";
// 4439c3c7… with layer.tar.xz:
constexpr char kXattrXzPayload[] =
    "sha256:19476e239ce415ff06265d4f1eb74afab21e6742e1f3152475531afbdc88543c";

const std::map<std::string, std::string>& VectorPayloads() {
  static const auto* m = new std::map<std::string, std::string>{
      {kScratchId, kScratchGzPayload},
      {kSudoersId, kSudoersGzPayload},
      {kXattrId, kXattrXzPayload},
  };
  return *m;
}

#define EXPECT_JSON_ERROR(response, status, message)               \
  do {                                                             \
    std::string why_;                                              \
    EXPECT_TRUE(IsJsonError((response), (status), (message), &why_)) \
        << why_;                                                   \
  } while (0)

// The response, or an empty one (status 0) after recording a failure.
HttpResponse Must(const absl::StatusOr<HttpResponse>& r) {
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : HttpResponse{};
}

std::vector<PushImage> AsPush(const std::vector<TestImage>& images) {
  return std::vector<PushImage>(images.begin(), images.end());
}

// Ids of `id` and its ancestors in `images`, image first.
std::vector<std::string> AncestryOf(const std::vector<TestImage>& images,
                                    std::string id) {
  std::map<std::string, std::string> parent;
  for (const TestImage& i : images) parent[i.id] = i.parent;
  std::vector<std::string> out;
  while (!id.empty()) {
    out.push_back(id);
    id = parent.at(id);
  }
  return out;
}

// Pulls `repo` (spec §5.5) and compares everything with what was pushed.
void ExpectPullMatches(const RegistryClient& client, const std::string& repo,
                       const std::vector<TestImage>& images,
                       const std::map<std::string, std::string>& tags) {
  SCOPED_TRACE(absl::StrCat("pull of ", repo, " from ", client.host(), ":",
                            client.port()));
  absl::StatusOr<PullResult> pulled = PullAndVerify(client, repo);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->tags, tags);
  for (const auto& [tag, id] : tags) {
    EXPECT_EQ(pulled->ancestry[tag], AncestryOf(images, id)) << "tag " << tag;
  }
  ASSERT_EQ(pulled->images.size(), images.size());
  for (const TestImage& want : images) {
    auto it = pulled->images.find(want.id);
    ASSERT_NE(it, pulled->images.end()) << want.id << " not pulled";
    const PulledImage& got = it->second;
    EXPECT_EQ(got.json, want.json) << "json of " << want.id << " differs";
    EXPECT_TRUE(got.layer == want.layer)
        << "layer of " << want.id << " (" << want.layer_file << ") differs: got "
        << got.layer.size() << " bytes, sha256 " << Sha256Hex(got.layer)
        << ", want " << want.layer.size() << " bytes, sha256 "
        << Sha256Hex(want.layer);
    EXPECT_EQ(got.json_response.Header("X-Docker-Size"),
              std::to_string(want.layer.size()));
    EXPECT_EQ(got.json_response.Header("X-Docker-Checksum-Payload"),
              want.payload_checksum);
    auto vec = VectorPayloads().find(want.id);
    if (vec != VectorPayloads().end()) {
      EXPECT_EQ(got.json_response.Header("X-Docker-Checksum-Payload"),
                vec->second)
          << "server's payload checksum of " << want.id << " vs VECTORS.md";
    }
    EXPECT_EQ(got.json_response.Header("Content-Type"), "application/json");
    EXPECT_EQ(got.layer_response.Header("Content-Type"),
              "application/octet-stream");
    EXPECT_EQ(got.layer_response.Header("Accept-Ranges"), "bytes");
  }
  // Root first for every tag: each image comes after its parent.
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < pulled->order.size(); ++i) position[pulled->order[i]] = i;
  for (const TestImage& i : images) {
    if (!i.parent.empty() && position.count(i.id) && position.count(i.parent)) {
      EXPECT_LT(position[i.parent], position[i.id]) << i.id;
    }
  }
}

// GET /v1/repositories/<repo>/images lists exactly `ids`, in order.
void ExpectImageList(const RegistryClient& client, const std::string& repo,
                     const std::vector<std::string>& ids) {
  HttpResponse r = Must(client.GetImageList(repo));
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(list.is_array()) << r.body;
  std::vector<std::string> got;
  for (const auto& e : list) {
    ASSERT_TRUE(e.is_object() && e.contains("id")) << r.body;
    got.push_back(e["id"].get<std::string>());
  }
  EXPECT_EQ(got, ids);
}

// Spec §2.6.3 on a complete image's layer.
void ExpectRanges(const RegistryClient& client, const TestImage& image) {
  SCOPED_TRACE("ranges of " + image.id);
  const std::string& layer = image.layer;
  const size_t size = layer.size();
  ASSERT_GT(size, 300u);
  const std::string total = std::to_string(size);

  HttpResponse r = Must(client.GetLayer(image.id, "bytes=100-199"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"), "bytes 100-199/" + total);
  EXPECT_EQ(r.Header("Content-Length"), "100");
  EXPECT_TRUE(r.body == layer.substr(100, 100));

  r = Must(client.GetLayer(image.id, "bytes=200-"));  // open-ended
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"),
            absl::StrCat("bytes 200-", size - 1, "/", total));
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(size - 200));
  EXPECT_TRUE(r.body == layer.substr(200));

  // docker's resume form: last = the total size, clamped to size-1.
  r = Must(client.GetLayer(image.id, absl::StrCat("bytes=", size - 10, "-", size)));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"),
            absl::StrCat("bytes ", size - 10, "-", size - 1, "/", total));
  EXPECT_TRUE(r.body == layer.substr(size - 10));

  r = Must(client.GetLayer(image.id, "bytes=7-7"));  // one byte (PY refused it)
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"), "bytes 7-7/" + total);
  EXPECT_EQ(r.body, layer.substr(7, 1));

  for (const std::string& bad : {absl::StrCat("bytes=", size, "-"),
                                 absl::StrCat("bytes=", size + 5, "-", size + 9),
                                 std::string("bytes=200-100")}) {
    r = Must(client.GetLayer(image.id, bad));
    EXPECT_EQ(r.status, 416) << bad;
    EXPECT_EQ(r.Header("Content-Range"), "bytes */" + total) << bad;
    EXPECT_EQ(r.Header("Content-Length"), "0") << bad;
    EXPECT_EQ(r.body, "") << bad;
  }

  r = Must(client.GetLayer(image.id, std::nullopt, "HEAD"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), total);
  EXPECT_EQ(r.Header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.body, "");
}

void ExpectUploading(const RegistryClient& c, const std::string& id) {
  constexpr char kUploading[] = "Image is being uploaded, retry later";
  EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 400, kUploading);
  EXPECT_JSON_ERROR(Must(c.GetLayer(id)), 400, kUploading);
  EXPECT_JSON_ERROR(Must(c.GetAncestry(id)), 400, kUploading);
}

// Completes `image` (already in JSON_UPLOADED or LAYER_UPLOADED) with a
// full Content-Length upload and checks the result is served.
void CompleteAndCheck(const RegistryClient& c, const TestImage& image) {
  HttpResponse r = Must(c.PutLayer(image.id, image.layer));
  EXPECT_EQ(r.status, 200) << r.body;
  r = Must(c.PutChecksum(image.id, image.payload_checksum));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  r = Must(c.GetImageJson(image.id));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, image.json);
  EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"), image.payload_checksum);
  r = Must(c.GetLayer(image.id));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == image.layer) << "layer of " << image.id << " differs";
}

TestImage MustMake(const std::string& seed, const std::string& parent,
                   const std::string& layer_file) {
  absl::StatusOr<TestImage> i = MakeImage(seed, parent, layer_file);
  EXPECT_TRUE(i.ok()) << i.status();
  return i.ok() ? *i : TestImage{};
}

// Spec §4.4 bad input; every case on fresh ids. Needs a registry with
// nothing under the "berth-test/..." ids.
void CheckBadInput(const RegistryClient& c) {
  const std::string sudoers_tar = absl::StrCat(kSudoersId, "/layer.tar");

  {
    SCOPED_TRACE("wrong payload checksum, then the right one");
    TestImage a = MustMake("berth-test/wrong-checksum", "", sudoers_tar);
    ASSERT_FALSE(a.id.empty());
    EXPECT_EQ(Must(c.PutImageJson(a.id, a.json)).status, 200);
    ExpectUploading(c, a.id);
    // No layer yet: any checksum is a mismatch.
    EXPECT_JSON_ERROR(Must(c.PutChecksum(a.id, a.payload_checksum)), 400,
                      "Checksum mismatch");
    EXPECT_EQ(Must(c.PutLayer(a.id, a.layer)).status, 200);
    EXPECT_JSON_ERROR(
        Must(c.PutChecksum(a.id, PayloadChecksum(a.json, a.layer + "x"))), 400,
        "Checksum mismatch");
    // Upper-case hex of the right digest: compared as strings (§2.6.5).
    std::string upper = "sha256:" + absl::AsciiStrToUpper(a.payload_checksum.substr(7));
    EXPECT_JSON_ERROR(Must(c.PutChecksum(a.id, upper)), 400, "Checksum mismatch");
    ExpectUploading(c, a.id);
    HttpResponse r = Must(c.PutChecksum(a.id, a.payload_checksum));
    EXPECT_EQ(r.status, 200) << r.body;
    r = Must(c.GetImageJson(a.id));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, a.json);
    EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"), a.payload_checksum);
    EXPECT_TRUE(Must(c.GetLayer(a.id)).body == a.layer);

    // A complete image is locked.
    EXPECT_JSON_ERROR(Must(c.PutChecksum(a.id, a.payload_checksum)), 409,
                      "Cannot set this image checksum");
    EXPECT_JSON_ERROR(Must(c.PutImageJson(a.id, a.json)), 409,
                      "Image already exists");
    EXPECT_JSON_ERROR(Must(c.PutLayer(a.id, "other bytes")), 409,
                      "Image already exists");
    EXPECT_TRUE(Must(c.GetLayer(a.id)).body == a.layer);

    // Checksum PUT without the header: 412 with PY's exact text, whatever
    // the state.
    const std::string k412 =
        "X-Docker-Checksum-Payload not set.  If you are using the Docker "
        "daemon, you should upgrade to version 0.10 or later";
    EXPECT_JSON_ERROR(Must(c.PutChecksum(a.id, std::nullopt)), 412, k412);
    EXPECT_JSON_ERROR(
        Must(c.PutChecksum(Sha256Hex("berth-test/never-pushed"), std::nullopt)),
        412, k412);
    EXPECT_JSON_ERROR(Must(c.PutChecksum(a.id, "")), 400,
                      "Missing Image's checksum");
  }

  {
    SCOPED_TRACE("Content-Length upload cut off in JSON_UPLOADED");
    TestImage b = MustMake("berth-test/cut-off-length", "", sudoers_tar);
    ASSERT_FALSE(b.id.empty());
    EXPECT_EQ(Must(c.PutImageJson(b.id, b.json)).status, 200);
    const std::string half = b.layer.substr(0, b.layer.size() / 2);
    absl::StatusOr<std::string> answer =
        c.SendCutOff(c.LayerPutHead(b.id, b.layer.size()), half);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_FALSE(absl::StartsWith(*answer, "HTTP/1.1 2"))
        << "a cut-off upload was acknowledged: " << *answer;
    ExpectUploading(c, b.id);
    EXPECT_JSON_ERROR(Must(c.PutChecksum(b.id, b.payload_checksum)), 400,
                      "Checksum mismatch");
    EXPECT_JSON_ERROR(Must(c.PutChecksum(b.id, PayloadChecksum(b.json, half))),
                      400, "Checksum mismatch");
    ExpectUploading(c, b.id);
    CompleteAndCheck(c, b);
  }

  {
    SCOPED_TRACE("upload cut off in LAYER_UPLOADED keeps the previous layer");
    TestImage d = MustMake("berth-test/cut-off-replace", "", "synthetic_hello.tar");
    ASSERT_FALSE(d.id.empty());
    absl::StatusOr<std::string> other = ReadTestdata("collision/collision-1.tar");
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_EQ(Must(c.PutImageJson(d.id, d.json)).status, 200);
    EXPECT_EQ(Must(c.PutLayer(d.id, d.layer)).status, 200);
    const std::string part = other->substr(0, 5000);
    absl::StatusOr<std::string> answer =
        c.SendCutOff(c.LayerPutHead(d.id, other->size()), part);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_FALSE(absl::StartsWith(*answer, "HTTP/1.1 2")) << *answer;
    EXPECT_JSON_ERROR(Must(c.PutChecksum(d.id, PayloadChecksum(d.json, *other))),
                      400, "Checksum mismatch");
    EXPECT_JSON_ERROR(Must(c.PutChecksum(d.id, PayloadChecksum(d.json, part))),
                      400, "Checksum mismatch");
    ExpectUploading(c, d.id);
    HttpResponse r = Must(c.PutChecksum(d.id, d.payload_checksum));
    EXPECT_EQ(r.status, 200) << r.body;
    r = Must(c.GetLayer(d.id));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body == d.layer) << "the cut-off upload replaced the layer";
  }

  {
    SCOPED_TRACE("chunked upload cut off (no terminating 0-chunk)");
    TestImage e = MustMake("berth-test/cut-off-chunked", "",
                           "collision/collision-2.tar");
    ASSERT_FALSE(e.id.empty());
    EXPECT_EQ(Must(c.PutImageJson(e.id, e.json)).status, 200);
    const std::string head = c.LayerPutHead(e.id, std::nullopt);
    // Every chunk complete, only the 0-chunk missing.
    const std::string all_chunks = ChunkedEncode(e.layer, 1000, /*terminate=*/false);
    absl::StatusOr<std::string> answer = c.SendCutOff(head, all_chunks);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_FALSE(absl::StartsWith(*answer, "HTTP/1.1 2")) << *answer;
    ExpectUploading(c, e.id);
    EXPECT_JSON_ERROR(Must(c.PutChecksum(e.id, e.payload_checksum)), 400,
                      "Checksum mismatch");
    // Cut in the middle of a chunk.
    answer = c.SendCutOff(head, all_chunks.substr(0, 2500));
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_FALSE(absl::StartsWith(*answer, "HTTP/1.1 2")) << *answer;
    EXPECT_JSON_ERROR(Must(c.PutChecksum(e.id, e.payload_checksum)), 400,
                      "Checksum mismatch");
    ExpectUploading(c, e.id);
    HttpResponse r = Must(c.PutLayerChunked(e.id, e.layer, 1000));
    EXPECT_EQ(r.status, 200) << r.body;
    r = Must(c.PutChecksum(e.id, e.payload_checksum));
    EXPECT_EQ(r.status, 200) << r.body;
    r = Must(c.GetLayer(e.id));
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body == e.layer);
  }

  {
    SCOPED_TRACE("invalid image ids");
    const std::string good = Sha256Hex("berth-test/valid-but-unknown");
    for (const std::string& bad :
         {std::string("xyz"), absl::AsciiStrToUpper(good), good.substr(1),
          good + "0", good.substr(0, 63) + "g"}) {
      SCOPED_TRACE(bad);
      const std::string json = absl::StrCat("{\"id\":\"", bad, "\"}");
      EXPECT_JSON_ERROR(Must(c.GetImageJson(bad)), 404, "Invalid image ID");
      EXPECT_JSON_ERROR(Must(c.GetLayer(bad)), 404, "Invalid image ID");
      EXPECT_JSON_ERROR(Must(c.GetAncestry(bad)), 404, "Invalid image ID");
      EXPECT_JSON_ERROR(Must(c.PutImageJson(bad, json)), 404, "Invalid image ID");
      EXPECT_JSON_ERROR(Must(c.PutLayer(bad, "layer")), 404, "Invalid image ID");
      EXPECT_JSON_ERROR(Must(c.PutChecksum(bad, "sha256:00")), 404,
                        "Invalid image ID");
    }
    // A valid id nobody pushed.
    EXPECT_JSON_ERROR(Must(c.GetImageJson(good)), 404, "Image not found");
    EXPECT_JSON_ERROR(Must(c.GetLayer(good)), 404, "Image not found");
    EXPECT_JSON_ERROR(Must(c.PutLayer(good, "layer")), 404, "Image not found");
    EXPECT_JSON_ERROR(Must(c.PutChecksum(good, "sha256:00")), 404,
                      "Image not found");
  }

  {
    SCOPED_TRACE("unknown parent");
    TestImage orphan = MustMake("berth-test/orphan",
                                Sha256Hex("berth-test/no-such-parent"),
                                "synthetic_hello.tar");
    ASSERT_FALSE(orphan.id.empty());
    EXPECT_JSON_ERROR(Must(c.PutImageJson(orphan.id, orphan.json)), 400,
                      "Image depends on a non existing parent");
    // Nothing was stored.
    EXPECT_JSON_ERROR(Must(c.GetImageJson(orphan.id)), 404, "Image not found");
    EXPECT_JSON_ERROR(Must(c.PutLayer(orphan.id, orphan.layer)), 404,
                      "Image not found");
  }
}

TEST(TestImagesTest, ChainMatchesVectors) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 5u);
  // Computed payload checksums of the real images = VECTORS.md.
  int real = 0;
  for (const TestImage& i : *chain) {
    auto vec = VectorPayloads().find(i.id);
    if (vec == VectorPayloads().end()) {
      EXPECT_FALSE(i.real_json) << i.id;
      continue;
    }
    ++real;
    EXPECT_TRUE(i.real_json) << i.id;
    EXPECT_EQ(i.payload_checksum, vec->second) << i.id << " " << i.layer_file;
    EXPECT_EQ(PayloadChecksum(i.json, i.layer), vec->second);
  }
  EXPECT_EQ(real, 3);
  // Each json names its id and the previous image as parent.
  for (size_t k = 0; k < chain->size(); ++k) {
    const TestImage& i = (*chain)[k];
    auto j = nlohmann::json::parse(i.json, nullptr, false);
    ASSERT_TRUE(j.is_object()) << i.id;
    EXPECT_EQ(j.value("id", ""), i.id);
    std::string want_parent = k == 0 ? "" : (*chain)[k - 1].id;
    EXPECT_EQ(i.parent, want_parent);
    EXPECT_EQ(j.value("parent", ""), want_parent) << i.id;
  }
  EXPECT_EQ((*chain)[1].json,
            absl::StrCat("{\"id\":\"", kHelloId, "\",\"parent\":\"", kScratchId,
                         "\"}"));
  EXPECT_EQ((*chain)[2].layer.size(), 1839u);  // 46af…/layer.tar.gz
  EXPECT_EQ((*chain)[4].layer.size(), 216u);   // 4439…/layer.tar.xz
}

// ---------------------------------------------------------------------------
// Embedded: berth serve.

class EmbeddedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("push-pull-serve-");
    data_ = dir_ + "/data";
    port_ = FreePort();
    Start();
  }

  void Start() {
    absl::StatusOr<std::unique_ptr<Process>> p = StartServe(port_, data_, dir_);
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
  }

  RegistryClient client() const { return RegistryClient("127.0.0.1", port_); }

  std::string dir_;
  std::string data_;
  int port_ = 0;
  std::unique_ptr<Process> serve_;
};

TEST_F(EmbeddedTest, PushPullRangesAndKill9Restart) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  const std::map<std::string, std::string> tags = {{"latest", kXattrId},
                                                   {"base", kScratchId}};
  std::vector<std::string> ids;
  for (const TestImage& i : *chain) ids.push_back(i.id);
  RegistryClient c = client();

  PushOptions push;
  push.tags = tags;
  push.framing = LayerFraming::kChunked;
  absl::StatusOr<PushReport> report = PushChain(c, kRepo, AsPush(*chain), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->uploaded, ids);
  EXPECT_TRUE(report->skipped.empty());
  EXPECT_EQ(report->endpoints, absl::StrCat("127.0.0.1:", port_));

  ExpectPullMatches(c, kRepo, *chain, tags);
  ExpectImageList(c, kRepo, ids);
  ExpectRanges(c, (*chain)[2]);  // 46af…, 1839 bytes

  // SIGKILL: everything acknowledged must come back.
  ASSERT_TRUE(serve_->Kill(SIGKILL).ok());
  absl::StatusOr<int> code = serve_->Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGKILL);
  EXPECT_FALSE(PingOk(port_));
  Start();
  ASSERT_NE(serve_, nullptr);

  ExpectPullMatches(c, kRepo, *chain, tags);
  ExpectImageList(c, kRepo, ids);
  ExpectRanges(c, (*chain)[2]);

  // Push one more image on top, as docker would (the chain is skipped).
  absl::StatusOr<TestImage> extra =
      MakeImage("berth-test/extra-after-restart", kXattrId,
                absl::StrCat(kXattrId, "/layer.tar"));
  ASSERT_TRUE(extra.ok()) << extra.status();
  std::vector<TestImage> all = *chain;
  all.push_back(*extra);
  std::map<std::string, std::string> all_tags = tags;
  all_tags["extra"] = extra->id;
  push.tags = all_tags;
  push.framing = LayerFraming::kContentLength;
  report = PushChain(c, kRepo, AsPush(all), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->skipped, ids);
  EXPECT_EQ(report->uploaded, std::vector<std::string>{extra->id});
  ids.push_back(extra->id);
  ExpectPullMatches(c, kRepo, all, all_tags);
  ExpectImageList(c, kRepo, ids);
}

TEST_F(EmbeddedTest, BadInput) { CheckBadInput(client()); }

// ---------------------------------------------------------------------------
// Cluster: tools/berth-cluster.

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = LauncherCluster::Up(
        {"--metads", "1", "--blobds", "1", "--frontends", "1"});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    ASSERT_TRUE(cluster_->Has("frontend-1") && cluster_->Has("metad-1"))
        << cluster_->state().dump();
    absl::StatusOr<RegistryClient> c =
        RegistryClient::FromUrl(cluster_->Url("frontend-1"));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::make_unique<RegistryClient>(*c);
  }

  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) std::cerr << cluster_->LogTails();
  }

  std::unique_ptr<LauncherCluster> cluster_;
  std::unique_ptr<RegistryClient> client_;
};

TEST_F(ClusterTest, PushPullAndMetadKill9Restart) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  const std::map<std::string, std::string> tags = {{"latest", kXattrId},
                                                   {"base", kScratchId}};
  std::vector<std::string> ids;
  for (const TestImage& i : *chain) ids.push_back(i.id);
  const RegistryClient& c = *client_;

  PushOptions push;
  push.tags = tags;
  push.framing = LayerFraming::kAlternate;
  absl::StatusOr<PushReport> report = PushChain(c, kRepo, AsPush(*chain), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->uploaded, ids);
  EXPECT_EQ(report->endpoints, absl::StrCat(c.host(), ":", c.port()));
  ExpectPullMatches(c, kRepo, *chain, tags);
  ExpectImageList(c, kRepo, ids);
  ExpectRanges(c, (*chain)[2]);

  ASSERT_TRUE(cluster_->Kill("metad-1").ok());
  // Tags are read linearizably: the frontend cannot answer them while metad
  // is down. (A complete image's json may still come from the frontend's
  // immutable-image cache.)
  HttpResponse down = Must(c.GetTags(kRepo));
  EXPECT_EQ(down.status, 503) << down.body;
  ASSERT_TRUE(cluster_->Restart("metad-1").ok()) << cluster_->LogTails();
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<HttpResponse> r = c.GetTags(kRepo);
        return r.ok() && r->status == 200;
      },
      absl::Seconds(30)))
      << "frontend did not serve tags again after metad restart";

  ExpectPullMatches(c, kRepo, *chain, tags);
  ExpectImageList(c, kRepo, ids);

  absl::StatusOr<TestImage> extra =
      MakeImage("berth-test/extra-after-metad-restart", kXattrId,
                absl::StrCat(kSudoersId, "/layer.tar.bz2"));
  ASSERT_TRUE(extra.ok()) << extra.status();
  std::vector<TestImage> all = *chain;
  all.push_back(*extra);
  std::map<std::string, std::string> all_tags = tags;
  all_tags["extra"] = extra->id;
  push.tags = all_tags;
  push.framing = LayerFraming::kChunked;
  report = PushChain(c, kRepo, AsPush(all), push);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->skipped, ids);
  EXPECT_EQ(report->uploaded, std::vector<std::string>{extra->id});
  ids.push_back(extra->id);
  ExpectPullMatches(c, kRepo, all, all_tags);
  ExpectImageList(c, kRepo, ids);
}

TEST_F(ClusterTest, BadInput) { CheckBadInput(*client_); }

}  // namespace
}  // namespace berth::testing
