#include "frontend/routes.h"

#include "gtest/gtest.h"

namespace berth::frontend {
namespace {

TEST(RoutesTest, PingAndRoot) {
  EXPECT_EQ(ResolveRoute("GET", "/_ping").endpoint, Endpoint::kPing);
  EXPECT_EQ(ResolveRoute("HEAD", "/v1/_ping").endpoint, Endpoint::kPing);
  EXPECT_EQ(ResolveRoute("GET", "/v1/_ping/").endpoint, Endpoint::kPing);
  Route r = ResolveRoute("POST", "/v1/_ping");
  EXPECT_EQ(r.error_status, 405);
  EXPECT_EQ(r.allow, "GET, HEAD");
  EXPECT_EQ(ResolveRoute("GET", "/").endpoint, Endpoint::kRoot);
}

TEST(RoutesTest, V2AlwaysRoutesToV2) {
  EXPECT_EQ(ResolveRoute("GET", "/v2/").endpoint, Endpoint::kV2);
  EXPECT_EQ(ResolveRoute("DELETE", "/v2/foo/manifests/x").endpoint,
            Endpoint::kV2);
  EXPECT_EQ(ResolveRoute("GET", "/v2").error_status, 0);
}

TEST(RoutesTest, UnknownPathIs404) {
  EXPECT_EQ(ResolveRoute("GET", "/nope").error_status, 404);
  EXPECT_EQ(ResolveRoute("GET", "/v1/images/abc/nope").error_status, 404);
  EXPECT_EQ(ResolveRoute("GET", "/v1/repositories/a//b/tags").error_status,
            404);
  EXPECT_EQ(ResolveRoute("GET", "/v1/repositories/a/b/c/tags").error_status,
            404);
}

TEST(RoutesTest, ImageEndpoints) {
  Route r = ResolveRoute("PUT", "/v1/images/abcd/layer");
  EXPECT_EQ(r.endpoint, Endpoint::kImageLayer);
  EXPECT_EQ(r.image_id, "abcd");
  EXPECT_EQ(ResolveRoute("GET", "/v1/images/abcd/json/").endpoint,
            Endpoint::kImageJson);
  r = ResolveRoute("GET", "/v1/images/abcd/checksum");
  EXPECT_EQ(r.error_status, 405);
  EXPECT_EQ(r.allow, "PUT");
}

// The examples of spec §1.8.
TEST(RoutesTest, SpecExamples) {
  Route r = ResolveRoute("DELETE", "/v1/repositories/a/tags");
  EXPECT_EQ(r.endpoint, Endpoint::kRepoTags);
  EXPECT_EQ(r.ns, "library");
  EXPECT_EQ(r.repo, "a");

  r = ResolveRoute("DELETE", "/v1/repositories/a/tags/");
  EXPECT_EQ(r.endpoint, Endpoint::kRepository);
  EXPECT_EQ(r.ns, "a");
  EXPECT_EQ(r.repo, "tags");

  r = ResolveRoute("PUT", "/v1/repositories/foo/images/");
  EXPECT_EQ(r.endpoint, Endpoint::kRepository);
  EXPECT_EQ(r.ns, "foo");
  EXPECT_EQ(r.repo, "images");

  r = ResolveRoute("PUT", "/v1/repositories/foo/images");
  EXPECT_EQ(r.endpoint, Endpoint::kRepoImages);
  EXPECT_EQ(r.ns, "library");
  EXPECT_EQ(r.repo, "foo");

  r = ResolveRoute("GET", "/v1/repositories/foo/bar/tags/");
  EXPECT_EQ(r.endpoint, Endpoint::kRepoTags);
  EXPECT_EQ(r.ns, "foo");
  EXPECT_EQ(r.repo, "bar");
}

TEST(RoutesTest, TagsAndQuery) {
  Route r = ResolveRoute("PUT", "/v1/repositories/foo/bar/tags/latest");
  EXPECT_EQ(r.endpoint, Endpoint::kRepoTag);
  EXPECT_EQ(r.tag, "latest");
  r = ResolveRoute("GET", "/v1/repositories/foo/bar/tags/v1/json");
  EXPECT_EQ(r.endpoint, Endpoint::kRepoTagJson);
  EXPECT_EQ(r.tag, "v1");
  r = ResolveRoute("GET", "/v1/search?q=busy&n=5");
  EXPECT_EQ(r.endpoint, Endpoint::kSearch);
  EXPECT_EQ(r.query, "q=busy&n=5");
  r = ResolveRoute("POST", "/v1/repositories/foo/bar/tags");
  EXPECT_EQ(r.error_status, 405);
  EXPECT_EQ(r.allow, "DELETE, GET, HEAD");
}

}  // namespace
}  // namespace berth::frontend
