// TarSum and file lists against ../shared/testdata/v1 (VECTORS.md, spec
// §3.2.6), read through the same LayerInspector the upload path uses.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "frontend/tar/file_list.h"
#include "frontend/tar/layer_inspector.h"
#include "frontend/tar/tarsum.h"
#include "gtest/gtest.h"
#include "zlib.h"

namespace berth::tar {
namespace {

std::string TestData(const std::string& rel) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  std::string path = std::string(srcdir ? srcdir : ".") +
                     "/shared/testdata/v1/" + rel;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test data " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Feeds `layer` in small uneven pieces to exercise every boundary.
absl::Status Inspect(const std::string& layer, TarConsumer* consumer,
                     bool lossy = false) {
  LayerInspector inspector(consumer);
  for (size_t i = 0; i < layer.size();) {
    size_t n = std::min<size_t>(layer.size() - i, 1 + (i * 7) % 613);
    if (lossy) {
      inspector.FeedLossy(absl::string_view(layer).substr(i, n));
    } else {
      EXPECT_TRUE(inspector.FeedBlocking(absl::string_view(layer).substr(i, n)));
    }
    i += n;
  }
  return inspector.Finish();
}

std::string SumOf(const std::string& layer, const std::string& json,
                  TarSum::Version v) {
  TarSum sum(v, json);
  absl::Status st = Inspect(layer, &sum);
  EXPECT_TRUE(st.ok()) << st;
  return sum.Result();
}

struct Vector {
  std::string id;
  std::string v0;
  std::string v1;
};

const Vector kVectors[] = {
    {"4439c3c7f847954100b42b267e7e5529cac1d6934db082f65795c5ca2e594d93",
     "tarsum+sha256:e86f81a4d552f13039b1396ed03ca968ea9717581f9577ef1876ea6ff9b38c98",
     "tarsum.v1+sha256:6235cd3a2afb7501bac541772a3d61a3634e95bc90bb39a4676e2cb98d08390d"},
    {"46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457",
     "tarsum+sha256:e58fcf7418d4390dec8e8fb69d88c06ec07039d651fedd3aa72af9972e7d046b",
     "tarsum.v1+sha256:486b86e25c4db4551228154848bc4663b15dd95784b1588980f4ba1cb42e83e9"},
    {"511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158",
     "tarsum+sha256:ac672ee85da9ab7f9667ae3c32841d3e42f33cc52c273c23341dabba1c8b0c8b",
     "tarsum.v1+sha256:142340666e8b86a1ecc423b93f090dc6c8ddb4bc7766f00af5edc4aaa035cad3"},
};

TEST(TarSumTest, RealLayersInEveryCompression) {
  for (const Vector& v : kVectors) {
    const std::string json = TestData(v.id + "/json");
    for (const char* file :
         {"layer.tar", "layer.tar.gz", "layer.tar.bz2", "layer.tar.xz"}) {
      const std::string layer = TestData(v.id + "/" + file);
      EXPECT_EQ(SumOf(layer, json, TarSum::Version::kV0), v.v0)
          << v.id << "/" << file;
      EXPECT_EQ(SumOf(layer, json, TarSum::Version::kV1), v.v1)
          << v.id << "/" << file;
    }
  }
}

TEST(TarSumTest, SyntheticWorkedExample) {
  const std::string json = "{\"id\":\"" + std::string(64, 'a') + "\"}";
  const std::string layer = TestData("synthetic_hello.tar");
  EXPECT_EQ(SumOf(layer, json, TarSum::Version::kV0),
            "tarsum+sha256:6b97be39eba15913377557401fd59755f2dbadaba1d96aafef75fe556d94ac4a");
  EXPECT_EQ(SumOf(layer, json, TarSum::Version::kV1),
            "tarsum.v1+sha256:ce9fa5a6114ca7ab224249f37baff392e1c8eabecb59b53dee70550c061cb54c");
}

TEST(TarSumTest, EmptyTarIsTheHashOfTheJson) {
  const std::string json = "{\"id\":\"" + std::string(64, 'a') + "\"}";
  EXPECT_EQ(SumOf(std::string(1024, '\0'), json, TarSum::Version::kV0),
            "tarsum+sha256:d561730190e99254d474d840d9013e14ceef3005414abfdb62dcbfb9f5e44823");
  EXPECT_EQ(SumOf(std::string(1024, '\0'), json, TarSum::Version::kV1),
            "tarsum.v1+sha256:d561730190e99254d474d840d9013e14ceef3005414abfdb62dcbfb9f5e44823");
}

TEST(TarSumTest, DuplicatePathsKeepArchiveOrder) {
  const char* expected[] = {
      "tarsum+sha256:08653904a68d3ab5c59e65ef58c49c1581caa3c34744f8d354b3f575ea04424a",
      "tarsum+sha256:b51c13fbefe158b5ce420d2b930eef54c5cd55c50a2ee4abdddea8fa9f081e0d",
      "tarsum+sha256:381547080919bb82691e995508ae20ed33ce0f6948d41cafbeb70ce20c73ee8e",
      "tarsum+sha256:f886e431c08143164a676805205979cd8fa535dfcef714db5515650eea5a7c0f",
  };
  for (int i = 0; i < 4; ++i) {
    const std::string layer =
        TestData("collision/collision-" + std::to_string(i) + ".tar");
    EXPECT_EQ(SumOf(layer, "", TarSum::Version::kV0), expected[i]) << i;
  }
}

TEST(TarSumTest, EntryHeaderStringMatchesTheSpecExample) {
  TarEntry e;
  e.name = "dev/";
  e.mode = 16877;
  e.mtime = 1396838750;
  e.typeflag = '5';
  EXPECT_EQ(TarSumHeader(e, TarSum::Version::kV0),
            "namedev/mode16877uid0gid0size0mtime1396838750typeflag5linkname"
            "unamegnamedevmajor0devminor0");
}

TEST(TarSumTest, NonTarAndDamagedLayersHaveNoTarSum) {
  TarSum sum(TarSum::Version::kV0, "");
  EXPECT_FALSE(Inspect(std::string(3000, 'x'), &sum).ok());
  // A real tar cut in the middle of its data.
  std::string layer = TestData(
      "46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/"
      "layer.tar");
  TarSum cut(TarSum::Version::kV0, "");
  EXPECT_FALSE(Inspect(layer.substr(0, 3000), &cut).ok());
  // Compressed streams cut short.
  for (const char* file : {"layer.tar.gz", "layer.tar.bz2", "layer.tar.xz"}) {
    std::string packed = TestData(
        std::string("46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/") +
        file);
    TarSum bad(TarSum::Version::kV0, "");
    EXPECT_FALSE(Inspect(packed.substr(0, packed.size() / 2), &bad).ok()) << file;
  }
}

// gzip of `n` zero bytes, made with zlib.
std::string GzipZeros(size_t n) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string zeros(1 << 20, '\0'), out;
  char buf[1 << 16];
  size_t left = n;
  int flush = Z_NO_FLUSH;
  do {
    if (z.avail_in == 0 && flush != Z_FINISH) {
      size_t take = std::min(left, zeros.size());
      z.next_in = reinterpret_cast<Bytef*>(zeros.data());
      z.avail_in = static_cast<uInt>(take);
      left -= take;
      if (left == 0) flush = Z_FINISH;
    }
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    deflate(&z, flush);
    out.append(buf, sizeof(buf) - z.avail_out);
  } while (!(flush == Z_FINISH && z.avail_out != 0));
  deflateEnd(&z);
  return out;
}

TEST(TarSumTest, DecompressionBombIsAbandoned) {
  // 256 MiB of zeros (a valid, empty tar) in a few hundred KiB of gzip.
  const std::string bomb = GzipZeros(256u << 20);
  ASSERT_LT(bomb.size(), 1u << 20);
  TarSum sum(TarSum::Version::kV0, "");
  InspectorBudget budget;
  budget.max_ratio = 10;
  budget.slack_bytes = 1 << 20;
  LayerInspector inspector(&sum, budget);
  inspector.FeedBlocking(bomb);
  absl::Status st = inspector.Finish();
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  // The same bytes within a generous budget are a valid (empty) tar.
  TarSum ok_sum(TarSum::Version::kV0, "");
  InspectorBudget generous;
  generous.max_ratio = 5000;
  LayerInspector relaxed(&ok_sum, generous);
  relaxed.FeedBlocking(bomb);
  EXPECT_TRUE(relaxed.Finish().ok());
}

TEST(TarSumTest, LossyFeedGivesUpInsteadOfBlocking) {
  TarSum sum(TarSum::Version::kV0, "");
  InspectorBudget budget;
  budget.queue_bytes = 1024;
  LayerInspector inspector(&sum, budget);
  // Far more than the queue holds in one go: the inspector gives up.
  inspector.FeedLossy(std::string(4096, '\0'));
  inspector.FeedLossy(std::string(4096, '\0'));
  EXPECT_FALSE(inspector.Finish().ok());
}

TEST(FileListTest, ListsTheRealLayer) {
  FileList list;
  ASSERT_TRUE(Inspect(TestData("46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/layer.tar.gz"),
                      &list)
                  .ok());
  const auto& files = list.files();
  ASSERT_EQ(files.size(), 9u);
  EXPECT_EQ(files[0][0], "dev");
  EXPECT_EQ(files[0][1], "d");
  EXPECT_EQ(files[0][5], 16877);
  bool found_sudoers = false;
  for (const auto& f : files) {
    if (f[0] == "etc/sudoers") {
      found_sudoers = true;
      EXPECT_EQ(f[1], "f");
      EXPECT_EQ(f[2], false);
      EXPECT_EQ(f[3], 3348);
    }
  }
  EXPECT_TRUE(found_sudoers);
}

}  // namespace
}  // namespace berth::tar
