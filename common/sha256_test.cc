#include "common/sha256.h"

#include "gtest/gtest.h"

namespace berth {
namespace {

TEST(Sha256Test, PayloadChecksumOfEmptyJsonAndLayer) {
  // Spec §3.1: sha256 of the single byte 0x0A.
  EXPECT_EQ(Sha256Hex("\n"),
            "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  Sha256 h;
  h.Update("test");
  h.Update("\n");
  EXPECT_EQ(h.HexDigest(),
            "f2ca1bb6c7e907d06dafe4687e579fce76b37e4e93b7605022da52e6ccc26fd2");
  // The hasher resets after a digest.
  h.Update("\n");
  EXPECT_EQ(h.HexDigest(), Sha256Hex("\n"));
}

TEST(Sha256Test, RecognisesDigests) {
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex("abc"));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'A')));
}

}  // namespace
}  // namespace berth
