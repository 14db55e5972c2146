#include "common/tls.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace berth::tls {
namespace {

namespace fs = std::filesystem;

// Self-signed certificates made with the openssl CLI once per test binary.
class TlsFilesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = new std::string(absl::StrCat(tmp ? tmp : "/tmp", "/tls_test"));
    fs::create_directories(*dir_);
    for (const char* name : {"a", "b"}) {
      std::string cmd = absl::StrCat(
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
          "-nodes -days 1 -subj /CN=",
          name, " -keyout ", *dir_, "/", name, ".key -out ", *dir_, "/", name,
          ".crt 2>/dev/null");
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    Write("empty.pem", "");
    Write("garbage.pem", "hello, not a certificate\n");
  }
  static void TearDownTestSuite() { delete dir_; }

  static void Write(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
  }
  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  static std::string* dir_;
};

std::string* TlsFilesTest::dir_ = nullptr;

TEST_F(TlsFilesTest, MissingFileNamesFlagAndPath) {
  auto r = ReadPemFile(Path("nope.pem"), "--grpc-tls-ca", true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "--grpc-tls-ca"));
  EXPECT_TRUE(absl::StrContains(r.status().message(), Path("nope.pem")));
  EXPECT_TRUE(absl::StrContains(r.status().message(), "No such file"))
      << r.status();
}

TEST_F(TlsFilesTest, EmptyAndGarbageFilesAreRefused) {
  auto empty = ReadPemFile(Path("empty.pem"), "--tls-cert", true);
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(absl::StrContains(empty.status().message(), "empty file"));
  auto garbage = ReadPemFile(Path("garbage.pem"), "--tls-cert", true);
  ASSERT_FALSE(garbage.ok());
  EXPECT_TRUE(absl::StrContains(garbage.status().message(),
                                "no PEM certificate"))
      << garbage.status();
  // A key file is not a certificate.
  EXPECT_FALSE(ReadPemFile(Path("a.key"), "--tls-cert", true).ok());
  EXPECT_TRUE(ReadPemFile(Path("a.crt"), "--tls-cert", true).ok());
}

TEST_F(TlsFilesTest, KeyMustBelongToCertificate) {
  EXPECT_TRUE(LoadCertAndKey(Path("a.crt"), "--tls-cert", Path("a.key"),
                             "--tls-key")
                  .ok());
  auto mismatch = LoadCertAndKey(Path("a.crt"), "--tls-cert", Path("b.key"),
                                 "--tls-key");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_TRUE(absl::StrContains(mismatch.status().message(),
                                "is not the key of"))
      << mismatch.status();
  auto not_a_key = LoadCertAndKey(Path("a.crt"), "--tls-cert",
                                  Path("garbage.pem"), "--tls-key");
  ASSERT_FALSE(not_a_key.ok());
  EXPECT_TRUE(absl::StrContains(not_a_key.status().message(),
                                "no usable PEM private key"))
      << not_a_key.status();
  auto half = LoadCertAndKey(Path("a.crt"), "--tls-cert", "", "--tls-key");
  ASSERT_FALSE(half.ok());
  EXPECT_TRUE(absl::StrContains(half.status().message(), "go together"));
}

TEST_F(TlsFilesTest, GrpcCredentials) {
  // No flags: insecure, as before.
  EXPECT_TRUE(GrpcServerCredentials({}).ok());
  auto insecure = LoadChannelSecurity({});
  ASSERT_TRUE(insecure.ok());
  EXPECT_FALSE(insecure->tls());

  GrpcTlsFiles server{Path("a.crt"), Path("a.key"), Path("b.crt"), ""};
  EXPECT_TRUE(GrpcServerCredentials(server).ok());
  GrpcTlsFiles ca_only{"", "", Path("b.crt"), ""};
  auto no_cert = GrpcServerCredentials(ca_only);
  ASSERT_FALSE(no_cert.ok());
  EXPECT_TRUE(absl::StrContains(no_cert.status().message(), "--grpc-tls-cert"));
  GrpcTlsFiles bad_ca{Path("a.crt"), Path("a.key"), Path("missing.crt"), ""};
  EXPECT_FALSE(GrpcServerCredentials(bad_ca).ok());

  auto client = LoadChannelSecurity(ca_only);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE(client->tls());
  GrpcTlsFiles mismatched{Path("a.crt"), Path("b.key"), Path("b.crt"), ""};
  EXPECT_FALSE(LoadChannelSecurity(mismatched).ok());
  GrpcTlsFiles name_only{"", "", "", "localhost"};
  EXPECT_FALSE(LoadChannelSecurity(name_only).ok());
}

}  // namespace
}  // namespace berth::tls
