// The raw GetChunkResponse codec against protobuf's own encoding, split
// into arbitrary spans, and against malformed bytes.
#include "blobstore/chunk_wire.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/blobstore.pb.h"

namespace berth::blob {
namespace {

std::string Bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// `wire` cut into spans at random points (some empty).
std::vector<absl::string_view> Split(const std::string& wire, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<absl::string_view> spans;
  size_t pos = 0;
  while (pos < wire.size()) {
    size_t n = std::min<size_t>(rng() % 9, wire.size() - pos);
    if (rng() % 4 == 0) n = std::min<size_t>(rng() % 5000, wire.size() - pos);
    spans.push_back(absl::string_view(wire).substr(pos, n));
    pos += n;
  }
  return spans;
}

std::string Joined(const GetChunkResponseView& v) {
  std::string out;
  for (absl::string_view p : v.data) out.append(p.data(), p.size());
  return out;
}

TEST(ChunkWireTest, ParsesProtobufEncodingInAnySplit) {
  GetChunkResponse m;
  m.set_data(Bytes(70000, 1));
  m.set_chunk_size(123456789012ull);
  const std::string wire = m.SerializeAsString();
  for (uint64_t seed = 0; seed < 50; ++seed) {
    GetChunkResponseView v;
    ASSERT_TRUE(ParseGetChunkResponse(Split(wire, seed), &v).ok());
    EXPECT_EQ(v.chunk_size, m.chunk_size());
    EXPECT_EQ(v.data_size, m.data().size());
    EXPECT_TRUE(Joined(v) == m.data());
    EXPECT_EQ(v.error.reason(), berth::REASON_UNSPECIFIED);
    for (absl::string_view p : v.data) EXPECT_FALSE(p.empty());
  }
}

TEST(ChunkWireTest, HeaderPlusDataIsAGetChunkResponse) {
  const std::string data = Bytes(1 << 20, 2);
  for (bool first : {true, false}) {
    const std::string wire =
        EncodeGetChunkHeader(first, 8 << 20, data.size()) + data;
    GetChunkResponse m;
    ASSERT_TRUE(m.ParseFromString(wire));
    EXPECT_EQ(m.chunk_size(), first ? 8u << 20 : 0u);
    EXPECT_TRUE(m.data() == data);
    GetChunkResponseView v;
    ASSERT_TRUE(ParseGetChunkResponse(Split(wire, 3), &v).ok());
    EXPECT_EQ(v.chunk_size, m.chunk_size());
    EXPECT_TRUE(Joined(v) == data);
  }
  // An empty piece and a zero size.
  GetChunkResponse m;
  ASSERT_TRUE(m.ParseFromString(EncodeGetChunkHeader(true, 0, 0)));
  EXPECT_EQ(m.chunk_size(), 0u);
  EXPECT_TRUE(m.data().empty());
}

TEST(ChunkWireTest, ErrorAndUnknownFields) {
  GetChunkResponse m;
  m.set_chunk_size(5);
  m.mutable_error()->set_reason(berth::CHUNK_NOT_FOUND);
  m.mutable_error()->set_message("chunk x not found");
  std::string wire = m.SerializeAsString();
  // Unknown fields of every wire type, as a newer server might send.
  wire += std::string("\x20\x96\x01", 3);                     // 4: varint
  wire += std::string("\x29", 1) + std::string(8, '\x01');    // 5: fixed64
  wire += std::string("\x32\x03" "abc", 5);                   // 6: bytes
  wire += std::string("\x3d", 1) + std::string(4, '\x02');    // 7: fixed32
  GetChunkResponseView v;
  ASSERT_TRUE(ParseGetChunkResponse(Split(wire, 4), &v).ok());
  EXPECT_EQ(v.chunk_size, 5u);
  EXPECT_EQ(v.error.reason(), berth::CHUNK_NOT_FOUND);
  EXPECT_EQ(v.error.message(), "chunk x not found");
  EXPECT_TRUE(v.data.empty());
  EXPECT_EQ(v.data_size, 0u);
}

TEST(ChunkWireTest, RejectsMalformedBytes) {
  GetChunkResponse m;
  m.set_data(Bytes(1000, 5));
  m.set_chunk_size(1000);
  const std::string wire = m.SerializeAsString();
  GetChunkResponseView v;
  // Every truncation of the message (other than at a field boundary after
  // the data, where chunk_size is simply absent) is malformed.
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    const std::string part = wire.substr(0, cut);
    absl::Status s = ParseGetChunkResponse({part}, &v);
    GetChunkResponse check;
    if (check.ParseFromString(part)) {
      EXPECT_TRUE(s.ok()) << cut;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << cut;
    }
  }
  // A data field twice (protobuf keeps the last; a streaming reader can't).
  const std::string twice = EncodeGetChunkHeader(false, 0, 2) + "ab" +
                            EncodeGetChunkHeader(false, 0, 2) + "cd";
  EXPECT_EQ(ParseGetChunkResponse({twice}, &v).code(),
            absl::StatusCode::kInternal);
  // A length beyond the message, an overlong varint, wire types 3/4/6/7.
  EXPECT_FALSE(ParseGetChunkResponse({std::string("\x0a\x05" "abc", 5)}, &v)
                   .ok());
  EXPECT_FALSE(
      ParseGetChunkResponse({std::string("\x10") + std::string(11, '\xff')},
                            &v)
          .ok());
  for (char key : {'\x0b', '\x0c', '\x0e', '\x0f', '\x00'}) {
    EXPECT_FALSE(ParseGetChunkResponse({std::string(1, key) + "xxxx"}, &v)
                     .ok())
        << static_cast<int>(key);
  }
  // A corrupt error field.
  EXPECT_FALSE(
      ParseGetChunkResponse({std::string("\x1a\x02\x08\xff", 4)}, &v).ok());
}

}  // namespace
}  // namespace berth::blob
