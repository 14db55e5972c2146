// Conformance of a real `berth serve` with ../shared/spec/docker-v1-protocol.md
// over HTTP: the client sequences of §5.3/§5.5, the bad-input table §4.4,
// every cell of the state table §4.2, layer Range edge cases (§2.6.3), HEAD
// on every GET (§1.9.3, §7.9.8), trailing slashes and the path rules of
// §1.8, 404/405 (§1.9.2), name rules (§1.7), the library namespace (§1.6),
// If-Modified-Since (§1.9.1), tags, repository json/delete/properties,
// search (§2.7, §7.9.7), users in their auth = none form (§2.3), files and
// diff (§2.6.7, §2.6.8) and the index image list (§2.4).
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/conformance_util.h"
#include "tests/harness/http.h"
#include "tests/harness/process.h"
#include "tests/registry_client.h"
#include "tests/test_images.h"

namespace berth::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using json = nlohmann::json;

constexpr char kUploading[] = "Image is being uploaded, retry later";
constexpr char k412[] =
    "X-Docker-Checksum-Payload not set.  If you are using the Docker daemon, "
    "you should upgrade to version 0.10 or later";
constexpr char kBadTag[] = "Invalid tag name (must match ^[\\w][\\w.-]{0,127}$)";

// VECTORS.md, "TarSums": tarsum v0 of the three real layers with their json.
const std::map<std::string, std::string>& TarSumV0() {
  static const auto* m = new std::map<std::string, std::string>{
      {kScratchId,
       "tarsum+sha256:ac672ee85da9ab7f9667ae3c32841d3e42f33cc52c273c23341dabba1c8b0c8b"},
      {kSudoersId,
       "tarsum+sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b"},
      {kXattrId,
       "tarsum+sha256:e86f81a4d552f13039b1396ed03ca968ea9717581f9577ef1876ea6ff9b38c98"},
  };
  return *m;
}

std::string MustRead(const std::string& rel) {
  absl::StatusOr<std::string> s = ReadTestdata(rel);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

class ConformanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("conformance-api-");
    port_ = FreePort();
    absl::StatusOr<std::unique_ptr<Process>> p =
        StartServeWith(port_, dir_ + "/data", dir_ + "/serve.log", {});
    ASSERT_TRUE(p.ok()) << p.status();
    serve_ = *std::move(p);
  }

  RegistryClient client() const { return RegistryClient("127.0.0.1", port_); }

  HttpResponse Req(const std::string& method, const std::string& path,
                   Headers headers = {}, std::string body = "") const {
    absl::StatusOr<HttpResponse> r =
        client().Request(method, path, std::move(headers), std::move(body));
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status();
    return r.ok() ? *r : HttpResponse{};
  }

  // PUT /v1/repositories/<name>/ with a list of ids (no tags).
  void CreateRepo(const std::string& name, const std::vector<std::string>& ids = {}) {
    json list = json::array();
    for (const auto& id : ids) list.push_back({{"id", id}});
    HttpResponse r = Must(client().PutRepository(name, list.dump()));
    EXPECT_EQ(r.status, 200) << name << ": " << r.body;
  }

  std::string dir_;
  int port_ = 0;
  std::unique_ptr<Process> serve_;
};

std::vector<std::string> Ids(const std::string& list_body) {
  std::vector<std::string> out;
  json j = json::parse(list_body, nullptr, false);
  EXPECT_TRUE(j.is_array()) << list_body;
  if (!j.is_array()) return out;
  for (const auto& e : j) out.push_back(e.value("id", ""));
  return out;
}

// ---------------------------------------------------------------------------
// §5.3 / §5.5

TEST_F(ConformanceTest, PushAndPullSequences) {
  absl::StatusOr<std::vector<TestImage>> chain = LoadChain();
  ASSERT_TRUE(chain.ok()) << chain.status();
  RegistryClient c = client();
  std::vector<std::string> ids;
  for (const TestImage& i : *chain) ids.push_back(i.id);

  // Setup: docker >= 1.5 probes /v2/ first and must get a plain 404.
  HttpResponse r = Req("GET", "/v2/");
  EXPECT_EQ(r.status, 404);
  EXPECT_FALSE(r.Header("Docker-Distribution-API-Version").has_value());
  r = Req("GET", "/v1/_ping");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "true");
  EXPECT_EQ(r.Header("X-Docker-Registry-Standalone"), "true");

  // Step 1: PUT the repository, one element per (image, tag) pair.
  json list = json::array();
  for (const TestImage& i : *chain) list.push_back({{"id", i.id}});
  list.back()["Tag"] = "latest";
  r = Must(c.PutRepository("foo/bar", list.dump()));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "\"\"");
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  std::string token = r.Header("X-Docker-Token").value_or("");
  EXPECT_FALSE(token.empty());
  EXPECT_EQ(r.Header("WWW-Authenticate"), "Token " + token);
  EXPECT_EQ(r.Header("X-Docker-Endpoints"), absl::StrCat("127.0.0.1:", port_));
  c.set_token(token);

  // Step 2: every image, base first.
  for (size_t k = 0; k < chain->size(); ++k) {
    const TestImage& i = (*chain)[k];
    SCOPED_TRACE(i.id);
    EXPECT_JSON_ERROR(Must(c.GetImageJson(i.id)), 404, "Image not found");  // probe
    r = Must(c.PutImageJson(i.id, i.json));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "true");
    r = Must(k % 2 ? c.PutLayer(i.id, i.layer) : c.PutLayerChunked(i.id, i.layer, 500));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "true");
    r = Must(c.PutChecksum(i.id, i.payload_checksum));  // docker 1.x: no TarSum used
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "true");
  }
  r = Must(c.PutTag("foo/bar", "latest", kXattrId));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  // Step 3: exactly 204, no body.
  r = Must(c.PutImageList("foo/bar", "[]"));
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");

  // §5.5: image list with a token, then the registry calls.
  r = Must(c.GetImageList("foo/bar"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Ids(r.body), ids);
  EXPECT_FALSE(r.Header("X-Docker-Token").value_or("").empty());
  EXPECT_EQ(r.Header("X-Docker-Endpoints"), absl::StrCat("127.0.0.1:", port_));
  absl::StatusOr<PullResult> pulled = PullAndVerify(c, "foo/bar");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->tags, (std::map<std::string, std::string>{{"latest", kXattrId}}));
  EXPECT_EQ(pulled->order, ids);  // root first
  for (const TestImage& i : *chain) {
    const PulledImage& got = pulled->images.at(i.id);
    EXPECT_EQ(got.json, i.json);
    EXPECT_TRUE(got.layer == i.layer) << i.id;
    // The client sent no TarSum: the server's own TarSum v0 = VECTORS.md.
    auto v = TarSumV0().find(i.id);
    if (v != TarSumV0().end()) {
      EXPECT_EQ(got.json_response.Header("X-Docker-Checksum"), v->second) << i.id;
    }
  }

  // A repeated push skips everything (the GET json probe answers 200).
  PushOptions again;
  again.tags = {{"latest", kXattrId}};
  absl::StatusOr<PushReport> report =
      PushChain(c, "foo/bar", std::vector<PushImage>(chain->begin(), chain->end()), again);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->skipped, ids);
  EXPECT_TRUE(report->uploaded.empty());

  // The same chain under a one-component name: docker pulls its tags as
  // library/<repo>.
  PushOptions lib;
  lib.tags = {{"latest", kSudoersId}};
  report = PushChain(client(), "busybox",
                     std::vector<PushImage>(chain->begin(), chain->begin() + 3), lib);
  ASSERT_TRUE(report.ok()) << report.status();
  pulled = PullAndVerify(client(), "library/busybox");
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->tags, (std::map<std::string, std::string>{{"latest", kSudoersId}}));
  EXPECT_EQ(pulled->images.size(), 3u);
}

// ---------------------------------------------------------------------------
// §4.4 bad input, row by row

TEST_F(ConformanceTest, BadInputTable) {
  RegistryClient c = client();
  const std::string id = Sha256Hex("bad-input/image");
  auto nothing_stored = [&](const std::string& which) {
    SCOPED_TRACE("nothing stored after: " + which);
    EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 404, "Image not found");
    EXPECT_JSON_ERROR(Must(c.PutLayer(id, "x")), 404, "Image not found");
  };
  const std::string idq = absl::StrCat("\"id\":\"", id, "\"");

  // json not UTF-8 / not JSON / not an object / empty object -> Invalid JSON
  for (const std::string& body :
       {absl::StrCat("{", idq, ",\"comment\":\"\xff\xfe\"}"), std::string("{"),
        std::string("not json"), std::string(""), absl::StrCat("[{", idq, "}]"),
        std::string("\"") + id + "\"", std::string("42"), std::string("null"),
        std::string("{}"),
        // [project] parent not a string / not an id
        absl::StrCat("{", idq, ",\"parent\":42}"),
        absl::StrCat("{", idq, ",\"parent\":\"xyz\"}")}) {
    SCOPED_TRACE(body);
    EXPECT_JSON_ERROR(Must(c.PutImageJson(id, body)), 400, "Invalid JSON");
  }
  nothing_stored("invalid json");
  // json without id
  EXPECT_JSON_ERROR(Must(c.PutImageJson(id, "{\"parent\":\"\"}")), 400,
                    "Missing key `id' in JSON");
  // id != URL id
  EXPECT_JSON_ERROR(
      Must(c.PutImageJson(id, absl::StrCat("{\"id\":\"", Sha256Hex("other"), "\"}"))),
      400, "JSON data contains invalid id");
  EXPECT_JSON_ERROR(Must(c.PutImageJson(id, "{\"id\":42}")), 400,
                    "JSON data contains invalid id");
  // parent unknown
  EXPECT_JSON_ERROR(
      Must(c.PutImageJson(id, absl::StrCat("{", idq, ",\"parent\":\"",
                                           Sha256Hex("no-such-parent"), "\"}"))),
      400, "Image depends on a non existing parent");
  nothing_stored("missing id / wrong id / unknown parent");
  // ("parent not readable" and "not in the repository's list" need auth or
  // index mode: not applicable with auth = none.)

  // json too large (default max 1 MiB): 413; exactly 1 MiB is fine.
  {
    std::string head = absl::StrCat("{", idq, ",\"comment\":\"");
    std::string big = head + std::string((1 << 20) - head.size() - 2, 'x') + "\"}";
    ASSERT_EQ(big.size(), 1u << 20);
    std::string bigger = head + std::string((1 << 20) - head.size() - 1, 'x') + "\"}";
    EXPECT_JSON_ERROR(Must(PutExpectingEarlyAnswer(port_, "/v1/images/" + id + "/json", bigger)),
                      413, "JSON too large");
    nothing_stored("json too large");
    HttpResponse r = Must(c.PutImageJson(id, big));
    EXPECT_EQ(r.status, 200) << r.body;
  }
  // layer for unknown image
  EXPECT_JSON_ERROR(Must(c.PutLayer(Sha256Hex("bad-input/unknown"), "x")), 404,
                    "Image not found");
  EXPECT_JSON_ERROR(Must(c.PutLayerChunked(Sha256Hex("bad-input/unknown"), "x")),
                    404, "Image not found");
  // checksum header missing / empty / wrong / before any layer
  EXPECT_JSON_ERROR(Must(c.PutChecksum(id, std::nullopt)), 412, k412);
  EXPECT_JSON_ERROR(Must(c.PutChecksum(id, "")), 400, "Missing Image's checksum");
  EXPECT_JSON_ERROR(Must(c.PutChecksum(id, "sha256:" + std::string(64, '0'))), 400,
                    "Checksum mismatch");  // no layer yet
  EXPECT_EQ(Must(c.PutLayer(id, "layer bytes")).status, 200);
  EXPECT_JSON_ERROR(Must(c.PutChecksum(id, "sha256:" + std::string(64, '0'))), 400,
                    "Checksum mismatch");
  EXPECT_JSON_ERROR(Must(c.PutChecksum(id, "garbage")), 400, "Checksum mismatch");
  EXPECT_JSON_ERROR(Must(c.GetImageJson(id)), 400, kUploading);

  // id not 16/64 lowercase hex, on every image endpoint
  const std::string good = Sha256Hex("bad-input/ids");
  for (const std::string& bad :
       {std::string("xyz"), absl::AsciiStrToUpper(good), good.substr(1), good + "0",
        good.substr(0, 63) + "g", good.substr(0, 15), good.substr(0, 17),
        absl::AsciiStrToUpper(good.substr(0, 16))}) {
    SCOPED_TRACE("id " + bad);
    const std::string base = "/v1/images/" + bad;
    for (const char* get : {"json", "layer", "ancestry", "files", "diff"}) {
      EXPECT_JSON_ERROR(Req("GET", base + "/" + get), 404, "Invalid image ID");
    }
    EXPECT_JSON_ERROR(Must(c.PutImageJson(bad, absl::StrCat("{\"id\":\"", bad, "\"}"))),
                      404, "Invalid image ID");
    EXPECT_JSON_ERROR(Must(c.PutLayer(bad, "x")), 404, "Invalid image ID");
    EXPECT_JSON_ERROR(Must(c.PutChecksum(bad, "sha256:00")), 404, "Invalid image ID");
    // The id check comes before the header check.
    EXPECT_JSON_ERROR(Must(c.PutChecksum(bad, std::nullopt)), 404, "Invalid image ID");
  }
  // 16-digit ids are valid (PY's tests use them): a full push works.
  Image short_id{good.substr(0, 16), absl::StrCat("{\"id\":\"", good.substr(0, 16), "\"}"),
                 "short id layer"};
  EXPECT_TRUE(PushComplete(c, short_id));
  ExpectState(c, short_id.id, State::kComplete, short_id.json, short_id.layer);
}

// ---------------------------------------------------------------------------
// §4.2: every request in every state

TEST_F(ConformanceTest, StateTable) {
  RegistryClient c = client();
  const std::string layer1 = MustRead("synthetic_hello.tar");
  const std::string layer2 = MustRead(absl::StrCat(kSudoersId, "/layer.tar.gz"));
  Image parent = Synthetic("state/parent", "", layer1);
  ASSERT_TRUE(PushComplete(c, parent));
  const State kStates[] = {State::kAbsent, State::kJsonUploaded,
                           State::kLayerUploaded, State::kComplete};
  auto fresh = [&](const std::string& row, State s) {
    return Synthetic(absl::StrCat("state/", row, "/", StateName(s)), "", layer1);
  };
  // The state an image is in after the request left it unchanged.
  auto unchanged = [&](const Image& i, State s, std::vector<std::string> not_layers = {}) {
    ExpectState(c, i.id, s, i.json, s == State::kAbsent ? "" : i.layer, not_layers);
  };

  for (State s : kStates) {
    SCOPED_TRACE(StateName(s));
    const bool absent = s == State::kAbsent, complete = s == State::kComplete;
    {
      SCOPED_TRACE("PUT json, valid");
      Image i = fresh("json-valid", s);
      Reach(c, i, s);
      // Another valid json for the same id, now with a parent.
      std::string json2 = absl::StrCat("{\"id\":\"", i.id, "\",\"parent\":\"", parent.id,
                                       "\",\"comment\":\"second\"}");
      HttpResponse r = Must(c.PutImageJson(i.id, json2));
      if (complete) {
        EXPECT_JSON_ERROR(r, 409, "Image already exists");
        unchanged(i, s);
      } else {
        EXPECT_EQ(r.status, 200) << r.body;
        // json replaced, old layer and checksum discarded.
        ExpectState(c, i.id, State::kJsonUploaded, json2, "", {i.layer, ""});
        Image i2{i.id, json2, layer2};
        EXPECT_TRUE(PushComplete(c, i2));
        HttpResponse a = Must(c.GetAncestry(i.id));
        EXPECT_EQ(a.status, 200);
        EXPECT_EQ(json::parse(a.body, nullptr, false),
                  json::array({i.id, parent.id}));  // recomputed
      }
    }
    {
      SCOPED_TRACE("PUT json, invalid");
      Image i = fresh("json-invalid", s);
      Reach(c, i, s);
      const std::string idq = absl::StrCat("\"id\":\"", i.id, "\"");
      EXPECT_JSON_ERROR(Must(c.PutImageJson(i.id, "{\"x\":1}")), 400,
                        "Missing key `id' in JSON");
      EXPECT_JSON_ERROR(Must(c.PutImageJson(i.id, "[]")), 400, "Invalid JSON");
      EXPECT_JSON_ERROR(
          Must(c.PutImageJson(i.id, absl::StrCat("{\"id\":\"", parent.id, "\"}"))), 400,
          "JSON data contains invalid id");
      EXPECT_JSON_ERROR(
          Must(c.PutImageJson(i.id, absl::StrCat("{", idq, ",\"parent\":\"",
                                                 Sha256Hex("nope"), "\"}"))),
          400, "Image depends on a non existing parent");
      EXPECT_JSON_ERROR(
          Must(PutExpectingEarlyAnswer(
              port_, "/v1/images/" + i.id + "/json",
              absl::StrCat("{", idq, ",\"c\":\"", std::string(1 << 20, 'x'), "\"}"))),
          413, "JSON too large");
      unchanged(i, s);
    }
    {
      SCOPED_TRACE("PUT layer, body complete");
      Image i = fresh("layer-complete", s);
      Reach(c, i, s);
      HttpResponse r = Must(c.PutLayerChunked(i.id, layer2, 300));
      if (absent) {
        EXPECT_JSON_ERROR(r, 404, "Image not found");
        unchanged(i, s);
      } else if (complete) {
        EXPECT_JSON_ERROR(r, 409, "Image already exists");
        unchanged(i, s);
      } else {
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.body, "true");
        if (s == State::kLayerUploaded) {  // the old layer's checksum is gone
          EXPECT_JSON_ERROR(Must(c.PutChecksum(i.id, i.payload())), 400,
                            "Checksum mismatch");
        }
        ExpectState(c, i.id, State::kLayerUploaded, i.json, layer2);
      }
    }
    {
      SCOPED_TRACE("PUT layer, body cut off");
      Image i = fresh("layer-cut", s);
      Reach(c, i, s);
      const std::string part = layer2.substr(0, layer2.size() / 2);
      absl::StatusOr<std::string> answer =
          SendCutOffTolerant(port_, c.LayerPutHead(i.id, layer2.size()), part);
      ASSERT_TRUE(answer.ok()) << answer.status();
      if (absent) {
        EXPECT_TRUE(absl::StartsWith(*answer, "HTTP/1.1 404")) << *answer;
      } else if (complete) {
        EXPECT_TRUE(absl::StartsWith(*answer, "HTTP/1.1 409")) << *answer;
      } else {
        EXPECT_FALSE(absl::StartsWith(*answer, "HTTP/1.1 2")) << *answer;
      }
      if (s == State::kLayerUploaded) {
        EXPECT_JSON_ERROR(Must(c.PutChecksum(i.id, PayloadChecksum(i.json, part))), 400,
                          "Checksum mismatch");
      }
      unchanged(i, s, {part, layer2});
    }
    {
      SCOPED_TRACE("PUT checksum = computed");
      Image i = fresh("checksum-right", s);
      Reach(c, i, s);
      HttpResponse r = Must(c.PutChecksum(i.id, i.payload()));
      if (absent) {
        EXPECT_JSON_ERROR(r, 404, "Image not found");
        unchanged(i, s);
      } else if (s == State::kJsonUploaded) {
        EXPECT_JSON_ERROR(r, 400, "Checksum mismatch");
        unchanged(i, s);
      } else if (s == State::kLayerUploaded) {
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.body, "true");
        ExpectState(c, i.id, State::kComplete, i.json, i.layer);
      } else {
        EXPECT_JSON_ERROR(r, 409, "Cannot set this image checksum");
        unchanged(i, s);
      }
    }
    {
      SCOPED_TRACE("PUT checksum, other value");
      Image i = fresh("checksum-wrong", s);
      Reach(c, i, s);
      HttpResponse r = Must(c.PutChecksum(i.id, PayloadChecksum(i.json, "other")));
      if (absent) {
        EXPECT_JSON_ERROR(r, 404, "Image not found");
      } else if (complete) {
        EXPECT_JSON_ERROR(r, 409, "Cannot set this image checksum");
      } else {
        EXPECT_JSON_ERROR(r, 400, "Checksum mismatch");
      }
      unchanged(i, s);
    }
    {
      SCOPED_TRACE("PUT checksum, header missing");
      Image i = fresh("checksum-missing", s);
      Reach(c, i, s);
      EXPECT_JSON_ERROR(Must(c.PutChecksum(i.id, std::nullopt)), 412, k412);
      unchanged(i, s);
    }
    {
      SCOPED_TRACE("GET/HEAD json, ancestry, layer, files; GET diff");
      Image i = fresh("reads", s);
      Reach(c, i, s);
      for (const char* what : {"json", "ancestry", "layer", "files"}) {
        for (const char* method : {"GET", "HEAD"}) {
          SCOPED_TRACE(absl::StrCat(method, " ", what));
          HttpResponse r = Req(method, absl::StrCat("/v1/images/", i.id, "/", what));
          if (std::string(method) == "HEAD") {
            int want = absent ? 404 : complete ? 200 : 400;
            EXPECT_EQ(r.status, want);
          } else if (absent) {
            EXPECT_JSON_ERROR(r, 404, "Image not found");
          } else if (!complete) {
            EXPECT_JSON_ERROR(r, 400, kUploading);
          } else {
            EXPECT_EQ(r.status, 200) << r.body;
          }
        }
      }
      // Diff: the state checks as the table says; a complete image then gets
      // the "feature off" answer of §2.6.8 (Berth computes no diffs).
      HttpResponse d = Req("GET", absl::StrCat("/v1/images/", i.id, "/diff"));
      if (absent) {
        EXPECT_JSON_ERROR(d, 404, "Image not found");
      } else if (!complete) {
        EXPECT_JSON_ERROR(d, 400, kUploading);
      } else {
        EXPECT_JSON_ERROR(d, 400, "Diff queue is disabled");
      }
      unchanged(i, s);
    }
    {
      SCOPED_TRACE("PUT tag with this id");
      Image i = fresh("tag", s);
      Reach(c, i, s);
      HttpResponse r = Must(c.PutTag("state/table", "t", i.id));
      if (absent) {
        EXPECT_JSON_ERROR(r, 404, "Image not found");
      } else {
        EXPECT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(r.body, "true");
        EXPECT_EQ(Req("GET", "/v1/repositories/state/table/tags/t").body,
                  "\"" + i.id + "\"");
      }
      unchanged(i, s);
    }
    {
      SCOPED_TRACE("PUT json of a child naming this id as parent");
      Image i = fresh("parent", s);
      Reach(c, i, s);
      Image child = Synthetic(absl::StrCat("state/child/", StateName(s)), i.id);
      HttpResponse r = Must(c.PutImageJson(child.id, child.json));
      if (absent) {
        EXPECT_JSON_ERROR(r, 400, "Image depends on a non existing parent");
        ExpectState(c, child.id, State::kAbsent, "", "");
      } else {
        EXPECT_EQ(r.status, 200) << r.body;
        ExpectState(c, child.id, State::kJsonUploaded, child.json, "");
      }
      unchanged(i, s);
    }
  }
}

// ---------------------------------------------------------------------------
// §2.6.3 ranges

void ExpectRange(const RegistryClient& c, const std::string& id, const std::string& layer,
                 const std::string& range, int first, int last) {
  SCOPED_TRACE("Range: " + range);
  HttpResponse r = Must(c.GetLayer(id, range));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"),
            absl::StrCat("bytes ", first, "-", last, "/", layer.size()));
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(last - first + 1));
  EXPECT_TRUE(r.body == layer.substr(first, last - first + 1));
  EXPECT_EQ(r.Header("Content-Type"), "application/octet-stream");
}

void Expect416(const RegistryClient& c, const std::string& id, size_t size,
               const std::string& range) {
  SCOPED_TRACE("Range: " + range);
  HttpResponse r = Must(c.GetLayer(id, range));
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.Header("Content-Range"), absl::StrCat("bytes */", size));
  EXPECT_EQ(r.Header("Content-Length"), "0");
  EXPECT_EQ(r.body, "");
}

TEST_F(ConformanceTest, LayerRanges) {
  RegistryClient c = client();
  Image img = Synthetic("ranges/layer", "", MustRead(absl::StrCat(kSudoersId, "/layer.tar.gz")));
  ASSERT_TRUE(PushComplete(c, img));
  const std::string& layer = img.layer;
  const int n = static_cast<int>(layer.size());
  ASSERT_EQ(n, 1839);

  ExpectRange(c, img.id, layer, "bytes=0-0", 0, 0);                  // first byte
  ExpectRange(c, img.id, layer, absl::StrCat("bytes=", n - 1, "-", n - 1), n - 1, n - 1);  // last
  ExpectRange(c, img.id, layer, absl::StrCat("bytes=", n - 1, "-"), n - 1, n - 1);
  ExpectRange(c, img.id, layer, "bytes=1000-", 1000, n - 1);         // open-ended
  ExpectRange(c, img.id, layer, "bytes=0-", 0, n - 1);
  ExpectRange(c, img.id, layer, absl::StrCat("bytes=1500-", n), 1500, n - 1);  // docker resume
  ExpectRange(c, img.id, layer, "bytes=10-999999", 10, n - 1);       // clamped
  ExpectRange(c, img.id, layer, "bytes=100-199", 100, 199);
  Expect416(c, img.id, n, absl::StrCat("bytes=", n, "-"));            // at the end
  Expect416(c, img.id, n, absl::StrCat("bytes=", n, "-", n));
  Expect416(c, img.id, n, "bytes=5000-6000");                          // past the end
  Expect416(c, img.id, n, "bytes=10-5");                               // first > last
  // HEAD with a Range: the 206 headers, no body.
  HttpResponse h = Must(c.GetLayer(img.id, "bytes=5-9", "HEAD"));
  EXPECT_EQ(h.status, 206);
  EXPECT_EQ(h.Header("Content-Range"), absl::StrCat("bytes 5-9/", n));
  EXPECT_EQ(h.Header("Content-Length"), "5");
  // Malformed / unsupported forms are ignored: the full 200 answer.
  for (const std::string& bad :
       {std::string("bytes=abc"), std::string("bytes=-5"), std::string("items=0-5"),
        std::string("bytes="), std::string("bytes=1-2,5-6"), std::string("bytes=x-5"),
        std::string("0-5")}) {
    SCOPED_TRACE("malformed Range: " + bad);
    HttpResponse r = Must(c.GetLayer(img.id, bad));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(n));
    EXPECT_FALSE(r.Header("Content-Range").has_value());
    EXPECT_TRUE(r.body == layer);
  }
  HttpResponse full = Must(c.GetLayer(img.id));
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.Header("Accept-Ranges"), "bytes");
  EXPECT_TRUE(full.body == layer);

  // A 0-byte layer: 200 with Content-Length 0 (PY answered 416); any range 416.
  Image empty = Synthetic("ranges/empty", "", "");
  ASSERT_TRUE(PushComplete(c, empty));
  HttpResponse r = Must(c.GetLayer(empty.id));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), "0");
  EXPECT_EQ(r.Header("Accept-Ranges"), "bytes");
  EXPECT_EQ(r.body, "");
  Expect416(c, empty.id, 0, "bytes=0-");
  Expect416(c, empty.id, 0, "bytes=0-0");
  r = Must(c.GetImageJson(empty.id));
  EXPECT_EQ(r.Header("X-Docker-Size"), "0");
  EXPECT_EQ(r.Header("X-Docker-Checksum-Payload"),
            "sha256:" + Sha256Hex(empty.json + "\n"));
}

// ---------------------------------------------------------------------------
// HEAD on every GET endpoint (§1.9.3, §7.9.8)

TEST_F(ConformanceTest, HeadOnEveryGet) {
  RegistryClient c = client();
  Image img = Synthetic("head/image", "", MustRead("synthetic_hello.tar"));
  ASSERT_TRUE(PushComplete(c, img));
  Image uploading = Synthetic("head/uploading");
  ASSERT_EQ(Must(c.PutImageJson(uploading.id, uploading.json)).status, 200);
  ASSERT_EQ(Must(c.PutTag("foo/bar", "latest", img.id)).status, 200);
  ASSERT_EQ(Req("PUT", "/v1/repositories/foo/bar/properties", {}, "{\"access\":\"public\"}").status,
            200);
  const std::string base = "/v1/images/" + img.id;
  for (const std::string& path : {
           std::string("/"), std::string("/_ping"), std::string("/v1/_ping"),
           std::string("/v1/users/"), std::string("/v1/users"),
           std::string("/v1/search?q=foo"), std::string("/v1/search?n=0"),
           base + "/json", base + "/layer", base + "/ancestry", base + "/files",
           base + "/diff", "/v1/images/" + uploading.id + "/json",
           "/v1/images/" + uploading.id + "/layer",
           "/v1/images/" + Sha256Hex("head/unknown") + "/json",
           std::string("/v1/images/xyz/layer"),
           std::string("/v1/repositories/foo/bar/images"),
           std::string("/v1/repositories/foo/bar/tags"),
           std::string("/v1/repositories/foo/bar/tags/latest"),
           std::string("/v1/repositories/foo/bar/tags/nope"),
           std::string("/v1/repositories/foo/bar/tags/latest/json"),
           std::string("/v1/repositories/foo/bar/json"),
           std::string("/v1/repositories/foo/bar/properties"),
           "/v1/repositories/foo/bar/layer/" + img.id + "/access",
           std::string("/v1/repositories/no/such/tags"),
           std::string("/v1/repositories/A/b/tags"), std::string("/v2/"),
           std::string("/nope"), base + "/checksum" /* 405 */}) {
    ExpectHeadMatchesGet(port_, path);
  }
  ExpectHeadMatchesGet(port_, base + "/layer", {{"Range", "bytes=5-9"}});
  ExpectHeadMatchesGet(port_, base + "/layer", {{"Range", "bytes=99999-"}});
  ExpectHeadMatchesGet(port_, base + "/json", {{"If-Modified-Since", "x"}});
}

// ---------------------------------------------------------------------------
// Trailing slashes and §1.8

TEST_F(ConformanceTest, TrailingSlashOnEveryEndpoint) {
  RegistryClient c = client();
  Image img = Synthetic("slash/image", "", MustRead("synthetic_hello.tar"));
  // PUTs with a trailing slash.
  HttpResponse r = Req("PUT", "/v1/images/" + img.id + "/json/", {}, img.json);
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("PUT", "/v1/images/" + img.id + "/layer/", {}, img.layer);
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("PUT", "/v1/images/" + img.id + "/checksum/",
          {{"X-Docker-Checksum-Payload", img.payload()}});
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("PUT", "/v1/repositories/foo/bar/tags/latest/", {}, "\"" + img.id + "\"");
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("PUT", "/v1/repositories/foo/bar/tags/other", {}, "\"" + img.id + "\"");
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("PUT", "/v1/repositories/foo/bar/properties/", {}, "{\"access\":\"public\"}");
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("PUT", "/v1/repositories/foo/bar/auth/");
  EXPECT_EQ(r.status, 200) << r.body;
  // GETs: the same answer with and without one trailing slash.
  const std::string base = "/v1/images/" + img.id;
  for (const std::string& path :
       {base + "/json", base + "/layer", base + "/ancestry", base + "/files",
        base + "/diff", std::string("/v1/_ping"), std::string("/_ping"),
        std::string("/v1/users"), std::string("/v1/search"),
        std::string("/v1/repositories/foo/bar/images"),
        std::string("/v1/repositories/foo/bar/tags"),
        std::string("/v1/repositories/foo/bar/tags/latest"),
        std::string("/v1/repositories/foo/bar/tags/latest/json"),
        std::string("/v1/repositories/foo/bar/json"),
        std::string("/v1/repositories/foo/bar/properties"),
        "/v1/repositories/foo/bar/layer/" + img.id + "/access"}) {
    SCOPED_TRACE(path);
    HttpResponse plain = Req("GET", path);
    HttpResponse slash = Req("GET", path + "/");
    EXPECT_EQ(plain.status, absl::EndsWith(path, "/diff") ? 400 : 200) << plain.body;
    EXPECT_EQ(slash.status, plain.status);
    EXPECT_EQ(slash.body, plain.body);
  }
  // Users: POST with and without slash; PUT /v1/users/<name> with and without.
  for (const char* path : {"/v1/users", "/v1/users/"}) {
    r = Req("POST", path, {{"Content-Type", "application/json"}},
            "{\"username\":\"alice\",\"password\":\"s3cret-pw\",\"email\":\"a@b.c\"}");
    EXPECT_EQ(r.status, 201) << path;
    EXPECT_EQ(r.body, "\"User Created\"");
  }
  for (const char* path : {"/v1/users/alice", "/v1/users/alice/"}) {
    EXPECT_EQ(Req("PUT", path, {}, "{\"email\":\"x@y.z\"}").status, 204) << path;
  }
  // DELETE tag with a trailing slash.
  r = Req("DELETE", "/v1/repositories/foo/bar/tags/other/");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  EXPECT_EQ(Req("GET", "/v1/repositories/foo/bar/tags/other").status, 404);
}

TEST_F(ConformanceTest, PathExamplesOfSection1_8) {
  RegistryClient c = client();
  Image img = Synthetic("paths/image");
  ASSERT_TRUE(PushComplete(c, img));
  auto tag = [&](const std::string& repo) {
    HttpResponse r = Must(c.PutTag(repo, "latest", img.id));
    EXPECT_EQ(r.status, 200) << repo << ": " << r.body;
  };
  // Repository "aa/tags" cannot be read through 3-segment paths (they parse
  // as tags of library/aa, §1.8 priority), so probe with its tag.
  auto has_latest = [&](const std::string& full) {
    return Req("GET", "/v1/repositories/" + full + "/tags/latest").status == 200;
  };
  auto listed = [&](const std::string& full) {
    return Req("GET", "/v1/repositories/" + full + "/tags").status == 200;
  };
  // DELETE /v1/repositories/a/tags deletes library/a.
  tag("aa");
  tag("aa/tags");
  HttpResponse r = Req("DELETE", "/v1/repositories/aa/tags");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  EXPECT_FALSE(has_latest("library/aa"));
  EXPECT_TRUE(has_latest("aa/tags"));
  // DELETE /v1/repositories/a/tags/ deletes a/tags.
  tag("aa");
  r = Req("DELETE", "/v1/repositories/aa/tags/");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(has_latest("aa/tags"));
  EXPECT_TRUE(has_latest("library/aa"));
  // PUT /v1/repositories/foo/images/ creates foo/images; without the slash it
  // is the image-list PUT of library/foo (204).
  r = Req("PUT", "/v1/repositories/foo/images/", {{"X-Docker-Token", "true"}}, "[]");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "\"\"");
  EXPECT_TRUE(listed("foo/images"));
  EXPECT_FALSE(listed("library/foo"));
  r = Req("PUT", "/v1/repositories/foo/images", {},
          json::array({{{"id", img.id}}}).dump());
  EXPECT_EQ(r.status, 204) << r.body;
  r = Req("GET", "/v1/repositories/library/foo/images");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Ids(r.body), std::vector<std::string>{img.id});
  // GET /v1/repositories/foo/bar/tags/ lists the tags of foo/bar.
  tag("foo/bar");
  r = Req("GET", "/v1/repositories/foo/bar/tags/");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"latest", img.id}}));
  // "tags" and "json" are also repository names: tag metadata of tag "json"?
  // No: tags/*/json has the highest priority -> tag metadata of tag "x".
  r = Req("GET", "/v1/repositories/foo/bar/tags/latest/json");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("last_update")) << r.body;
  // An empty segment: 404.
  EXPECT_JSON_ERROR(Req("GET", "/v1/repositories/foo//tags"), 404, "Not found");
  EXPECT_JSON_ERROR(Req("PUT", "/v1/repositories//foo/", {}, "[]"), 404, "Not found");
  // Query strings are dropped before parsing.
  r = Req("GET", "/v1/repositories/foo/bar/tags?x=1");
  EXPECT_EQ(r.status, 200) << r.body;
  // Index token checks (§2.4.6), auth = none.
  r = Req("PUT", "/v1/repositories/foo/bar/auth");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"OK\"");
  r = Req("GET", "/v1/repositories/foo/bar/layer/" + img.id + "/access");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"access", true}}));
}

TEST_F(ConformanceTest, UnknownRoutesAndWrongMethods) {
  const std::string id = Sha256Hex("routes/id");
  for (const std::string& path :
       {std::string("/nope"), std::string("/v1"), std::string("/v1/"),
        std::string("/v1/images"), std::string("/v1/images/"), "/v1/images/" + id,
        "/v1/images/" + id + "/nope", "/v1/images/" + id + "/json/extra",
        std::string("/v1/repositories/"), std::string("/v1/repositories/a/b/c/d/tags"),
        std::string("/v1/users/a/b"), std::string("/v1/_pingx"),
        std::string("/v1/private_images/") + id + "/json", std::string("/_versions"),
        std::string("/v1/_versions"), std::string("/v2/_catalog")}) {
    SCOPED_TRACE(path);
    EXPECT_JSON_ERROR(Req("GET", path), 404, "Not found");
  }
  struct Case {
    std::string method, path, allow;
  };
  const std::vector<Case> cases = {
      {"DELETE", "/v1/images/" + id + "/json", "GET, HEAD, PUT"},
      {"POST", "/v1/images/" + id + "/layer", "GET, HEAD, PUT"},
      {"GET", "/v1/images/" + id + "/checksum", "PUT"},
      {"PUT", "/v1/images/" + id + "/ancestry", "GET, HEAD"},
      {"PUT", "/v1/images/" + id + "/files", "GET, HEAD"},
      {"DELETE", "/v1/images/" + id + "/diff", "GET, HEAD"},
      {"POST", "/v1/_ping", "GET, HEAD"},
      {"PUT", "/_ping", "GET, HEAD"},
      {"DELETE", "/", "GET, HEAD"},
      {"DELETE", "/v1/search", "GET, HEAD"},
      {"PUT", "/v1/users", "GET, HEAD, POST"},
      {"DELETE", "/v1/users/", "GET, HEAD, POST"},
      {"GET", "/v1/users/alice/", "PUT"},
      {"POST", "/v1/repositories/foo/bar/tags", "DELETE, GET, HEAD"},
      {"POST", "/v1/repositories/foo/bar/tags/latest", "DELETE, GET, HEAD, PUT"},
      {"PUT", "/v1/repositories/foo/bar/tags/latest/json", "GET, HEAD"},
      {"POST", "/v1/repositories/foo/bar/properties", "GET, HEAD, PUT"},
      {"PUT", "/v1/repositories/foo/bar/json", "GET, HEAD"},
      {"GET", "/v1/repositories/foo/bar/auth", "PUT"},
      {"GET", "/v1/repositories/foo/bar/", "DELETE, PUT"},
      {"POST", "/v1/repositories/foo/bar/images", "DELETE, GET, HEAD, PUT"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.method + " " + k.path);
    HttpResponse r = Req(k.method, k.path);
    EXPECT_JSON_ERROR(r, 405, "Method not allowed");
    EXPECT_EQ(r.Header("Allow"), k.allow);
  }
}

// ---------------------------------------------------------------------------
// §1.7 names, §1.6 library

TEST_F(ConformanceTest, NameRules) {
  RegistryClient c = client();
  Image img = Synthetic("names/image");
  ASSERT_TRUE(PushComplete(c, img));
  const std::string tagged = "\"" + img.id + "\"";
  // Valid names: a tag PUT succeeds.
  for (const std::string& name :
       {std::string("ab/r"), std::string("a_b/r"), std::string("a-b/r"),
        std::string("_a/r"), std::string("a1/r"), std::string(255, 'n') + "/r",
        std::string("ns/a.b-c_d"), std::string("ns/") + std::string(255, 'r'),
        std::string("r"), std::string("r.x-y_z")}) {
    SCOPED_TRACE(name.substr(0, 40));
    HttpResponse r = Req("PUT", "/v1/repositories/" + name + "/tags/latest", {}, tagged);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Req("GET", "/v1/repositories/" + name + "/tags").status, 200);
  }
  // Invalid namespaces and repositories, on every repository endpoint.
  struct Bad {
    std::string name, error;
  };
  const std::vector<Bad> bad = {
      {"a/r", "Invalid namespace name"},       {"-ab/r", "Invalid namespace name"},
      {"ab-/r", "Invalid namespace name"},     {"a--b/r", "Invalid namespace name"},
      {"a.b/r", "Invalid namespace name"},     {"AB/r", "Invalid namespace name"},
      {std::string(256, 'n') + "/r", "Invalid namespace name"},
      {"ns/R", "Invalid repository name"},     {"ns/a+b", "Invalid repository name"},
      {"ns/a%20b", "Invalid repository name"}, {"Upper", "Invalid repository name"},
      {"ns/" + std::string(256, 'r'), "Invalid repository name"},
      // one-component names that look like image ids (docker refuses them)
      {Sha256Hex("x"), "Invalid repository name"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name.substr(0, 40));
    const std::string p = "/v1/repositories/" + b.name;
    EXPECT_JSON_ERROR(Req("GET", p + "/tags"), 400, b.error);
    EXPECT_JSON_ERROR(Req("GET", p + "/tags/latest"), 400, b.error);
    EXPECT_JSON_ERROR(Req("PUT", p + "/tags/latest", {}, tagged), 400, b.error);
    EXPECT_JSON_ERROR(Req("DELETE", p + "/tags/latest"), 400, b.error);
    EXPECT_JSON_ERROR(Req("GET", p + "/tags/latest/json"), 400, b.error);
    EXPECT_JSON_ERROR(Req("GET", p + "/json"), 400, b.error);
    EXPECT_JSON_ERROR(Req("GET", p + "/images"), 400, b.error);
    EXPECT_JSON_ERROR(Req("PUT", p + "/images", {}, "[]"), 400, b.error);
    EXPECT_JSON_ERROR(Req("PUT", p + "/", {}, "[]"), 400, b.error);
    EXPECT_JSON_ERROR(Req("DELETE", p + "/"), 400, b.error);
    EXPECT_JSON_ERROR(Req("GET", p + "/properties"), 400, b.error);
    EXPECT_JSON_ERROR(Req("PUT", p + "/properties", {}, "{\"access\":\"public\"}"), 400,
                      b.error);
  }
  // Tags: ^[\w][\w.-]{0,127}$
  for (const std::string& t :
       {std::string("latest"), std::string("_x"), std::string("A.b-c"),
        std::string("0"), std::string(128, 't')}) {
    SCOPED_TRACE("tag " + t);
    HttpResponse r = Req("PUT", "/v1/repositories/foo/tags-ok/tags/" + t, {}, tagged);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  for (const std::string& t : {std::string(".x"), std::string("-x"),
                               std::string(129, 't'), std::string("a+b"),
                               std::string("a%20b"), std::string("a:b")}) {
    SCOPED_TRACE("tag " + t);
    EXPECT_JSON_ERROR(Req("PUT", "/v1/repositories/foo/tags-bad/tags/" + t, {}, tagged),
                      400, kBadTag);
    // The tag rule comes before the body check.
    EXPECT_JSON_ERROR(Req("PUT", "/v1/repositories/foo/tags-bad/tags/" + t, {}, "42"),
                      400, kBadTag);
  }
  EXPECT_EQ(Req("GET", "/v1/repositories/foo/tags-bad/tags").status, 404);
}

TEST_F(ConformanceTest, LibraryNamespace) {
  RegistryClient c = client();
  Image img = Synthetic("library/image");
  ASSERT_TRUE(PushComplete(c, img));
  // docker's push of a one-component name.
  CreateRepo("xrepo", {img.id});
  ASSERT_EQ(Must(c.PutTag("xrepo", "latest", img.id)).status, 200);
  ASSERT_EQ(Must(c.PutTag("library/xrepo", "v2", img.id)).status, 200);
  for (const std::string& suffix :
       {std::string("/tags"), std::string("/tags/latest"), std::string("/tags/v2"),
        std::string("/images"), std::string("/properties")}) {
    SCOPED_TRACE(suffix);
    HttpResponse one = Req("GET", "/v1/repositories/xrepo" + suffix);
    HttpResponse two = Req("GET", "/v1/repositories/library/xrepo" + suffix);
    EXPECT_EQ(one.status, 200) << one.body;
    EXPECT_EQ(two.status, one.status);
    EXPECT_EQ(two.body, one.body);
  }
  EXPECT_EQ(json::parse(Req("GET", "/v1/repositories/library/xrepo/tags").body, nullptr, false),
            json({{"latest", img.id}, {"v2", img.id}}));
  // library/x and x are the same repository; "xrepo" is not "other/xrepo".
  EXPECT_EQ(Req("GET", "/v1/repositories/other/xrepo/tags").status, 404);
  // Deleting through the one-component name deletes library/xrepo.
  EXPECT_EQ(Req("DELETE", "/v1/repositories/xrepo/").status, 200);
  EXPECT_JSON_ERROR(Req("GET", "/v1/repositories/library/xrepo/tags"), 404,
                    "Repository not found");
}

// ---------------------------------------------------------------------------
// §1.9.1 caching

TEST_F(ConformanceTest, IfModifiedSinceAndCacheHeaders) {
  RegistryClient c = client();
  Image img = Synthetic("ims/image", "", MustRead("synthetic_hello.tar"));
  ASSERT_TRUE(PushComplete(c, img));
  Image part = Synthetic("ims/uploading");
  ASSERT_EQ(Must(c.PutImageJson(part.id, part.json)).status, 200);
  const Headers ims = {{"If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}};
  for (const char* what : {"json", "layer", "ancestry", "files"}) {
    SCOPED_TRACE(what);
    const std::string path = absl::StrCat("/v1/images/", img.id, "/", what);
    HttpResponse plain = Req("GET", path);
    EXPECT_EQ(plain.status, 200);
    EXPECT_EQ(plain.Header("Cache-Control"), "public, max-age=31536000");
    EXPECT_EQ(plain.Header("Last-Modified"), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_TRUE(absl::EndsWith(plain.Header("Expires").value_or(""), " GMT"));
    EXPECT_FALSE(plain.Header("Pragma").has_value());
    // 304 with the caching headers and no body (raw read: nothing follows).
    Headers h = ims;
    h.emplace_back("Connection", "close");
    absl::StatusOr<std::string> raw = RawRoundTrip(port_, RequestHead("GET", path, h));
    ASSERT_TRUE(raw.ok()) << raw.status();
    std::string rest;
    absl::StatusOr<HttpResponse> r = ParseHead(*raw, &rest);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 304) << *raw;
    EXPECT_EQ(rest, "");
    EXPECT_EQ(r->Header("Cache-Control"), "public, max-age=31536000");
    EXPECT_EQ(r->Header("Last-Modified"), "Thu, 01 Jan 1970 00:00:00 GMT");
    // Any value counts, and only complete images get a 304.
    EXPECT_EQ(Req("GET", path, {{"If-Modified-Since", "garbage"}}).status, 304);
    EXPECT_JSON_ERROR(Req("GET", absl::StrCat("/v1/images/", part.id, "/", what), ims), 400,
                      kUploading);
    EXPECT_JSON_ERROR(
        Req("GET", absl::StrCat("/v1/images/", Sha256Hex("ims/none"), "/", what), ims), 404,
        "Image not found");
  }
  // Non-image answers are no-cache.
  HttpResponse r = Req("GET", "/v1/_ping");
  EXPECT_EQ(r.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.Header("Pragma"), "no-cache");
  EXPECT_EQ(r.Header("Expires"), "-1");
}

// ---------------------------------------------------------------------------
// §2.5 tags and repositories

TEST_F(ConformanceTest, TagsAndMetadata) {
  RegistryClient c = client();
  Image base = Synthetic("tags/base");
  Image top = Synthetic("tags/top", base.id);
  ASSERT_TRUE(PushComplete(c, base));
  ASSERT_TRUE(PushComplete(c, top));
  const std::string repo = "/v1/repositories/foo/tagged";
  EXPECT_JSON_ERROR(Req("GET", repo + "/tags"), 404, "Repository not found");
  CreateRepo("foo/tagged");
  HttpResponse r = Req("GET", repo + "/tags");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
  EXPECT_JSON_ERROR(Req("GET", repo + "/tags/latest"), 404, "Tag not found");

  const std::string ua =
      "docker/1.3.2 go/go1.3.3 git-commit/39fa2fa kernel/3.16.0-4-AMD64 os/Linux arch/AMD64";
  const int64_t before = absl::ToUnixSeconds(absl::Now());
  r = Req("PUT", repo + "/tags/latest",
          {{"User-Agent", ua}, {"Content-Type", "application/json"}}, "\"" + top.id + "\"");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  const int64_t after = absl::ToUnixSeconds(absl::Now());
  r = Req("PUT", repo + "/tags/base", {{"User-Agent", "curl/8"}}, "\"" + base.id + "\"");
  EXPECT_EQ(r.status, 200) << r.body;

  r = Req("GET", repo + "/tags/latest");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"" + top.id + "\"");
  r = Req("GET", repo + "/tags");
  EXPECT_EQ(json::parse(r.body, nullptr, false),
            json({{"latest", top.id}, {"base", base.id}}));
  // [project] the tagged image and its ancestors join the image list.
  r = Req("GET", repo + "/images");
  EXPECT_EQ(r.status, 200);
  std::vector<std::string> listed = Ids(r.body);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()),
            (std::set<std::string>{base.id, top.id}));

  // Tag metadata from the User-Agent (§2.5.5).
  for (const std::string& path : {repo + "/tags/latest/json", repo + "/json"}) {
    SCOPED_TRACE(path);
    r = Req("GET", path);
    EXPECT_EQ(r.status, 200);
    json meta = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(meta.is_object()) << r.body;
    EXPECT_EQ(meta.value("docker_version", ""), "1.3.2");
    EXPECT_EQ(meta.value("docker_go_version", ""), "go1.3.3");
    EXPECT_EQ(meta.value("kernel", ""), "3.16.0-4-amd64");
    EXPECT_EQ(meta.value("os", ""), "linux");
    EXPECT_EQ(meta.value("arch", ""), "amd64");
    ASSERT_TRUE(meta.contains("last_update") && meta["last_update"].is_number()) << r.body;
    EXPECT_GE(meta["last_update"].get<int64_t>(), before);
    EXPECT_LE(meta["last_update"].get<int64_t>(), after);
  }
  // Keys whose pair is absent are omitted.
  r = Req("GET", repo + "/tags/base/json");
  json meta = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(meta.contains("docker_version")) << r.body;
  EXPECT_TRUE(meta.contains("last_update")) << r.body;
  // No metadata / no tag: 200 with the default object.
  const json defaults = {{"arch", "amd64"},        {"docker_go_version", nullptr},
                         {"docker_version", nullptr}, {"kernel", nullptr},
                         {"last_update", nullptr},  {"os", "linux"}};
  EXPECT_EQ(json::parse(Req("GET", repo + "/tags/nope/json").body, nullptr, false), defaults);
  EXPECT_EQ(json::parse(Req("GET", "/v1/repositories/no/repo/json").body, nullptr, false),
            defaults);

  // Bad tag PUT bodies.
  for (const std::string& body :
       {std::string(""), std::string("\"\""), std::string("42"), std::string("null"),
        std::string("[\"") + top.id + "\"]", std::string("not json")}) {
    SCOPED_TRACE(body);
    EXPECT_JSON_ERROR(Req("PUT", repo + "/tags/x", {}, body), 400, "Invalid data");
  }
  EXPECT_JSON_ERROR(Req("PUT", repo + "/tags/x", {}, "\"" + Sha256Hex("tags/none") + "\""),
                    404, "Image not found");
  EXPECT_JSON_ERROR(Req("GET", repo + "/tags/x"), 404, "Tag not found");

  // Delete a tag; deleting "latest" removes the repository metadata.
  r = Req("DELETE", repo + "/tags/latest");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "true");
  EXPECT_JSON_ERROR(Req("GET", repo + "/tags/latest"), 404, "Tag not found");
  EXPECT_JSON_ERROR(Req("DELETE", repo + "/tags/latest"), 404, "Tag not found: latest");
  EXPECT_EQ(json::parse(Req("GET", repo + "/json").body, nullptr, false), defaults);
  EXPECT_EQ(json::parse(Req("GET", repo + "/tags").body, nullptr, false),
            json({{"base", base.id}}));
  // Overwrite a tag.
  EXPECT_EQ(Req("PUT", repo + "/tags/base", {}, "\"" + top.id + "\"").status, 200);
  EXPECT_EQ(Req("GET", repo + "/tags/base").body, "\"" + top.id + "\"");
  // A tag on an unfinished image is allowed (§8.6).
  Image part = Synthetic("tags/partial");
  ASSERT_EQ(Must(c.PutImageJson(part.id, part.json)).status, 200);
  EXPECT_EQ(Req("PUT", repo + "/tags/wip", {}, "\"" + part.id + "\"").status, 200);
}

TEST_F(ConformanceTest, RepositoryDeleteBothForms) {
  RegistryClient c = client();
  Image img = Synthetic("delete/image");
  ASSERT_TRUE(PushComplete(c, img));
  for (std::string form : {"/", "/tags"}) {
    SCOPED_TRACE("DELETE /v1/repositories/foo/gone" + form);
    CreateRepo("foo/gone", {img.id});
    ASSERT_EQ(Must(c.PutTag("foo/gone", "latest", img.id)).status, 200);
    ASSERT_EQ(Req("PUT", "/v1/repositories/foo/gone/properties", {},
                  "{\"access\":\"private\"}").status, 200);
    HttpResponse r = Req("DELETE", "/v1/repositories/foo/gone" + form);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "true");
    EXPECT_JSON_ERROR(Req("GET", "/v1/repositories/foo/gone/tags"), 404,
                      "Repository not found");
    EXPECT_JSON_ERROR(Req("GET", "/v1/repositories/foo/gone/tags/latest"), 404,
                      "Tag not found");
    EXPECT_JSON_ERROR(Req("GET", "/v1/repositories/foo/gone/images"), 404,
                      "images not found");
    EXPECT_JSON_ERROR(Req("DELETE", "/v1/repositories/foo/gone" + form), 404,
                      "Repository not found");
    // Images are kept.
    EXPECT_EQ(Must(c.GetImageJson(img.id)).status, 200);
    // A new repository of that name starts public and empty.
    CreateRepo("foo/gone");
    EXPECT_EQ(json::parse(Req("GET", "/v1/repositories/foo/gone/properties").body, nullptr,
                          false),
              json({{"access", "public"}}));
    EXPECT_EQ(Req("GET", "/v1/repositories/foo/gone/tags").body, "{}");
    EXPECT_EQ(Req("DELETE", "/v1/repositories/foo/gone/").status, 200);
  }
  // DELETE …/images: 204, no effect (PY standalone).
  CreateRepo("foo/kept", {img.id});
  HttpResponse r = Req("DELETE", "/v1/repositories/foo/kept/images");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(Ids(Req("GET", "/v1/repositories/foo/kept/images").body),
            std::vector<std::string>{img.id});
}

TEST_F(ConformanceTest, Properties) {
  CreateRepo("foo/props");
  const std::string p = "/v1/repositories/foo/props/properties";
  HttpResponse r = Req("GET", p);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"access", "public"}}));
  for (const char* access : {"private", "public", "private"}) {
    r = Req("PUT", p, {}, json({{"access", access}}).dump());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body, "true");
    EXPECT_EQ(json::parse(Req("GET", p).body, nullptr, false), json({{"access", access}}));
  }
  for (const std::string& body :
       {std::string("[]"), std::string("\"private\""), std::string("garbage"),
        std::string(""), std::string("{}"), std::string("{\"access\":\"secret\"}"),
        std::string("{\"access\":1}"), std::string("{\"access\":null}"),
        std::string("{\"Access\":\"public\"}")}) {
    SCOPED_TRACE(body);
    EXPECT_JSON_ERROR(Req("PUT", p, {}, body), 400, "Invalid data");
  }
  EXPECT_EQ(json::parse(Req("GET", p).body, nullptr, false), json({{"access", "private"}}));
}

// ---------------------------------------------------------------------------
// §2.7, §7.9.7 search

TEST_F(ConformanceTest, Search) {
  CreateRepo("busybox");
  CreateRepo("foo/busybox-extras");
  CreateRepo("foo/other");
  for (int i = 1; i <= 7; ++i) CreateRepo(absl::StrCat("pg/item-", i));

  HttpResponse r = Req("GET", "/v1/search?q=busy", {{"X-Docker-Token", "true"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  json s = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(s.is_object()) << r.body;
  EXPECT_EQ(s["query"], "busy");
  EXPECT_EQ(s["num_results"], 2);
  EXPECT_EQ(s["num_pages"], 1);
  EXPECT_EQ(s["page"], "1");  // a JSON string
  EXPECT_EQ(s["page_size"], 25);
  // Ordered by full name: foo/busybox-extras < library/busybox.
  const json want = json::array(
      {{{"name", "foo/busybox-extras"}, {"description", ""}, {"star_count", 0},
        {"is_official", false}, {"is_trusted", false}, {"is_automated", false}},
       {{"name", "busybox"}, {"description", ""}, {"star_count", 0},
        {"is_official", true}, {"is_trusted", false}, {"is_automated", false}}});
  EXPECT_EQ(s["results"], want);
  // Case-insensitive, on the full name (escaped '/').
  EXPECT_EQ(json::parse(Req("GET", "/v1/search?q=BUSY").body, nullptr, false)["results"], want);
  s = json::parse(Req("GET", "/v1/search?q=foo%2Fbusy").body, nullptr, false);
  EXPECT_EQ(s["num_results"], 1) << s.dump();
  s = json::parse(Req("GET", "/v1/search?q=library%2F").body, nullptr, false);
  EXPECT_EQ(s["num_results"], 1) << s.dump();
  // No q: everything.
  s = json::parse(Req("GET", "/v1/search").body, nullptr, false);
  EXPECT_EQ(s["num_results"], 10) << s.dump();
  EXPECT_EQ(s["query"], "");

  // Paging: 7 matches, 3 per page.
  std::vector<std::string> names;
  for (int page = 1; page <= 3; ++page) {
    SCOPED_TRACE(page);
    r = Req("GET", absl::StrCat("/v1/search?q=pg/&n=3&page=", page));
    EXPECT_EQ(r.status, 200) << r.body;
    s = json::parse(r.body, nullptr, false);
    EXPECT_EQ(s["num_results"], 7);
    EXPECT_EQ(s["num_pages"], 3);
    EXPECT_EQ(s["page"], std::to_string(page));
    EXPECT_EQ(s["page_size"], 3);
    EXPECT_EQ(s["results"].size(), page < 3 ? 3u : 1u);
    for (const auto& e : s["results"]) names.push_back(e["name"]);
  }
  std::vector<std::string> all;
  for (int i = 1; i <= 7; ++i) all.push_back(absl::StrCat("pg/item-", i));
  EXPECT_EQ(names, all);
  s = json::parse(Req("GET", "/v1/search?q=pg/&n=3&page=4").body, nullptr, false);
  EXPECT_EQ(s["results"], json::array());  // past the end: 200, empty
  EXPECT_EQ(s["num_results"], 7);
  s = json::parse(Req("GET", "/v1/search?q=nothing-matches").body, nullptr, false);
  EXPECT_EQ(s["num_results"], 0);
  EXPECT_EQ(s["num_pages"], 1);  // at least 1
  // Empty n = the default; n = 100 is the maximum.
  EXPECT_EQ(json::parse(Req("GET", "/v1/search?n=").body, nullptr, false)["page_size"], 25);
  EXPECT_EQ(json::parse(Req("GET", "/v1/search?n=100").body, nullptr, false)["page_size"], 100);
  for (std::string q : {"n=0", "n=101", "n=-1", "n=abc", "n=2.5", "page=0",
                               "page=-1", "page=abc", "page=1x"}) {
    SCOPED_TRACE(q);
    EXPECT_JSON_ERROR(Req("GET", "/v1/search?" + q), 400, "Invalid parameter");
  }
}

// ---------------------------------------------------------------------------
// §2.3 users, auth = none

TEST_F(ConformanceTest, UsersAuthNone) {
  const std::string login =
      "{\"username\":\"alice\",\"password\":\"s3cret-pw\",\"auth\":\"\","
      "\"email\":\"alice@example.com\"}";
  for (const char* path : {"/v1/users/", "/v1/users"}) {
    SCOPED_TRACE(path);
    HttpResponse r = Req("POST", path, {{"Content-Type", "application/json; charset=utf-8"}},
                         login);
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.body, "\"User Created\"");
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    // Again: auth = none creates "again" (PY standalone).
    EXPECT_EQ(Req("POST", path, {}, login).status, 201);
    EXPECT_JSON_ERROR(Req("POST", path, {}, "{not json"), 400, "Error Decoding JSON");
    r = Req("GET", path, {{"Authorization", "Basic YWxpY2U6czNjcmV0LXB3"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "\"OK\"");
    EXPECT_EQ(Req("GET", path).body, "\"OK\"");
  }
  HttpResponse r = Req("PUT", "/v1/users/alice/", {}, "{\"email\":\"new@example.com\"}");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(Req("GET", "/").body, "\"docker-registry server\"");
}

// ---------------------------------------------------------------------------
// §2.6.7 files, §2.6.8 diff

TEST_F(ConformanceTest, FilesAndDiff) {
  RegistryClient c = client();
  const std::string sudoers = MustRead(absl::StrCat(kSudoersId, "/layer.tar.gz"));
  Image img = Synthetic("files/sudoers", "", sudoers);
  ASSERT_TRUE(PushComplete(c, img));
  HttpResponse r = Req("GET", "/v1/images/" + img.id + "/files");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  const int64_t t = 1396838750;
  json want = json::array({json::array({"dev", "d", false, 0, t, 16877, 0, 0})});
  for (const char* link : {"dev/core", "dev/stderr", "dev/stdout", "dev/fd", "dev/ptmx",
                           "dev/stdin"}) {
    want.push_back(json::array({link, "s", false, 0, t, 41471, 0, 0}));
  }
  want.push_back(json::array({"etc", "d", false, 0, t, 16877, 0, 0}));
  want.push_back(json::array({"etc/sudoers", "f", false, 3348, t, 33056, 0, 0}));
  EXPECT_EQ(json::parse(r.body, nullptr, false), want);
  // "./" of the scratch layer becomes "/".
  Image scratch = Synthetic("files/scratch", "",
                            MustRead(absl::StrCat(kScratchId, "/layer.tar.xz")));
  ASSERT_TRUE(PushComplete(c, scratch, /*chunked=*/true));
  r = Req("GET", "/v1/images/" + scratch.id + "/files");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body, nullptr, false),
            json::array({json::array({"/", "d", false, 0, 1371157405, 16877, 0, 0})}));
  // A layer that is not a tar.
  Image junk = Synthetic("files/junk", "", std::string(5000, 'j'));
  ASSERT_TRUE(PushComplete(c, junk));
  EXPECT_JSON_ERROR(Req("GET", "/v1/images/" + junk.id + "/files"), 400,
                    "Layer format not supported");
  // Diff: the feature is off.
  EXPECT_JSON_ERROR(Req("GET", "/v1/images/" + img.id + "/diff"), 400,
                    "Diff queue is disabled");
}

// ---------------------------------------------------------------------------
// §2.4 image lists

TEST_F(ConformanceTest, ImageListMerge) {
  RegistryClient c = client();
  Image a = Synthetic("list/a", "", MustRead("synthetic_hello.tar"));
  Image b = Synthetic("list/b");
  ASSERT_TRUE(PushComplete(c, a));
  const std::string p = "/v1/repositories/foo/list/images";
  HttpResponse r = Req("PUT", "/v1/repositories/foo/list/", {{"X-Docker-Token", "true"}},
                       json::array({{{"id", a.id}, {"Tag", "latest"}}, {{"id", b.id}}}).dump());
  EXPECT_EQ(r.status, 200) << r.body;
  // Merge: new ids appended, a missing checksum filled, an existing one kept.
  r = Req("PUT", p, {},
          json::array({{{"id", b.id}, {"checksum", "tarsum+sha256:" + std::string(64, 'b')}},
                       {{"id", a.id}}})
              .dump());
  EXPECT_EQ(r.status, 204) << r.body;
  r = Req("PUT", p, {},
          json::array({{{"id", b.id}, {"checksum", "tarsum+sha256:" + std::string(64, 'c')}}})
              .dump());
  EXPECT_EQ(r.status, 204) << r.body;
  r = Req("GET", p);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Header("X-Docker-Token").has_value());  // not asked for
  json list = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(list.is_array() && list.size() == 2) << r.body;
  EXPECT_EQ(list[0]["id"], a.id);
  EXPECT_EQ(list[1], json({{"id", b.id}, {"checksum", "tarsum+sha256:" + std::string(64, 'b')}}));
  // Bad bodies.
  EXPECT_JSON_ERROR(Req("PUT", p, {}, "{nope"), 400, "Error Decoding JSON");
  EXPECT_JSON_ERROR(Req("PUT", p, {}, "{}"), 400, "Invalid data");
  EXPECT_JSON_ERROR(Req("PUT", p, {}, "[42]"), 400, "Invalid data");
  EXPECT_JSON_ERROR(Req("PUT", p, {}, "[{\"id\":\"xyz\"}]"), 400, "Invalid data");
  EXPECT_JSON_ERROR(Req("PUT", "/v1/repositories/foo/list2/", {}, "{nope"), 400,
                    "Error Decoding JSON");
  EXPECT_JSON_ERROR(Req("PUT", "/v1/repositories/foo/list2/", {}, "[{}]"), 400,
                    "Invalid data");
  EXPECT_JSON_ERROR(Req("GET", "/v1/repositories/foo/list2/images"), 404, "images not found");
}

}  // namespace
}  // namespace berth::testing
