#include "frontend/auth/tokens.h"

#include "gtest/gtest.h"

namespace berth::auth {
namespace {

const std::vector<std::string> kSecrets = {"secret-new", "secret-old"};

TEST(TokensTest, IssuedTokenParsesAndVerifies) {
  Grant g{"library/busybox", Access::kRead, 2000};
  std::string token = IssueToken("secret-new", g, "8f14e45fceea167a");
  EXPECT_EQ(token.rfind("signature=2000.8f14e45fceea167a.", 0), 0u);
  EXPECT_NE(token.find(",repository=\"library/busybox\",access=read"),
            std::string::npos);
  Credentials c = ParseAuthorization("Token " + token);
  ASSERT_EQ(c.kind, Credentials::Kind::kToken);
  auto v = VerifyToken(kSecrets, c, 1999);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->repository, "library/busybox");
  EXPECT_EQ(v->access, Access::kRead);
}

TEST(TokensTest, OldSecretStillVerifiesDuringRotation) {
  Grant g{"a/b", Access::kWrite, 2000};
  Credentials c = ParseAuthorization(
      "Token " + IssueToken("secret-old", g, "0123456789abcdef"));
  EXPECT_TRUE(VerifyToken(kSecrets, c, 100).ok());
  EXPECT_FALSE(VerifyToken({"secret-new"}, c, 100).ok());
}

TEST(TokensTest, ExpiredTamperedAndMalformedTokensFail) {
  Grant g{"a/b", Access::kRead, 2000};
  std::string token = IssueToken("secret-new", g, "0123456789abcdef");
  Credentials c = ParseAuthorization("Token " + token);
  EXPECT_EQ(VerifyToken(kSecrets, c, 2001).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  Credentials other_repo = c;
  other_repo.repository = "a/c";
  EXPECT_EQ(VerifyToken(kSecrets, other_repo, 100).status().code(),
            absl::StatusCode::kPermissionDenied);
  Credentials more_access = c;
  more_access.access = "write";
  EXPECT_FALSE(VerifyToken(kSecrets, more_access, 100).ok());
  Credentials bad_access = c;
  bad_access.access = "admin";
  EXPECT_FALSE(VerifyToken(kSecrets, bad_access, 100).ok());
  Credentials later = c;
  later.signature = "3000" + c.signature.substr(4);
  EXPECT_FALSE(VerifyToken(kSecrets, later, 100).ok());
}

TEST(TokensTest, ParsingFollowsSpecRules) {
  // First occurrence wins; a second "Token " prefix is skipped.
  Credentials c = ParseAuthorization(
      "Token Token signature=1.aaaaaaaaaaaaaaaa.x,repository=\"a/b\","
      "access=read,repository=\"c/d\"");
  EXPECT_EQ(c.kind, Credentials::Kind::kToken);
  EXPECT_EQ(c.repository, "a/b");
  EXPECT_EQ(c.signature, "1.aaaaaaaaaaaaaaaa.x");
  EXPECT_EQ(ParseAuthorization("Token ").kind, Credentials::Kind::kNone);
  EXPECT_EQ(ParseAuthorization("token").kind, Credentials::Kind::kNone);
  EXPECT_EQ(ParseAuthorization("Basic Og==").kind, Credentials::Kind::kNone);
  Credentials b = ParseAuthorization("Basic Zm9vOmJhcg==");
  EXPECT_EQ(b.kind, Credentials::Kind::kBasic);
  EXPECT_EQ(b.username, "foo");
  EXPECT_EQ(b.password, "bar");
  EXPECT_EQ(ParseAuthorization("Basic !!!").kind,
            Credentials::Kind::kMalformed);
  EXPECT_EQ(ParseAuthorization("Bearer x").kind,
            Credentials::Kind::kMalformed);
  EXPECT_EQ(ParseAuthorization("").kind, Credentials::Kind::kNone);
}

TEST(TokensTest, CookiesRoundTripAndRejectTampering) {
  Grant g{"foo/bar", Access::kWrite, 5000};
  std::string cookie = IssueCookie("secret-new", g, "0123456789abcdef");
  EXPECT_EQ(cookie.rfind("v1.5000.write.666f6f2f626172.0123456789abcdef.", 0),
            0u);
  auto v = VerifyCookie(kSecrets, cookie, 100);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->repository, "foo/bar");
  EXPECT_EQ(v->access, Access::kWrite);
  EXPECT_FALSE(VerifyCookie(kSecrets, cookie, 5001).ok());
  std::string tampered = cookie;
  tampered.replace(tampered.find("write"), 5, "delete");
  EXPECT_FALSE(VerifyCookie(kSecrets, tampered, 100).ok());
  EXPECT_EQ(CookieValue("a=1; session=" + cookie + "; b=2", "session"),
            cookie);
  EXPECT_EQ(CookieValue("a=1", "session"), "");
}

}  // namespace
}  // namespace berth::auth
