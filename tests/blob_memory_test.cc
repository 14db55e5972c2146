// Peak RSS of a real client process uploading a 4 GiB layer (R=3, W=2,
// 3 blobd processes in 3 zones) stays within 64 MiB of its idle RSS.
#include <csignal>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/blob_testutil.h"

namespace berth::testing {
namespace {

TEST(BlobMemoryTest, FourGiBUploadStaysWithin64MiBOfIdleRss) {
  auto cluster = BlobdCluster::Start(
      {{"blobd-1", "zone-a"}, {"blobd-2", "zone-b"}, {"blobd-3", "zone-c"}});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const uint64_t size = 4ull << 30;
  ProcessOptions o;
  o.name = "blob_load";
  o.argv = {RunfilePath("tests/blob_load"), "--blobd", (*cluster)->Spec(),
            "--size", std::to_string(size), "--replicas", "3",
            "--write-quorum", "2"};
  auto load = Process::Start(o);
  ASSERT_TRUE(load.ok()) << load.status();
  Process* p = load->get();
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(p->LogTail(5), "READY"); },
                      absl::Seconds(30)));
  const int64_t idle_kb = ProcStatusKb(p->pid(), "VmRSS");
  ASSERT_GT(idle_kb, 0);
  ASSERT_TRUE(p->Kill(SIGUSR1).ok());
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(p->LogTail(5), "RESULT"); },
                      absl::Seconds(240), absl::Milliseconds(200)))
      << p->LogTail();
  const int64_t peak_kb = ProcStatusKb(p->pid(), "VmHWM");
  const std::string tail = p->LogTail(5);
  EXPECT_TRUE(absl::StrContains(tail, "\"ok\":true")) << tail;
  EXPECT_TRUE(absl::StrContains(tail, absl::StrCat("\"bytes\":", size))) << tail;
  std::printf("idle RSS %lld KiB, peak RSS %lld KiB, +%lld KiB; %s\n",
              static_cast<long long>(idle_kb), static_cast<long long>(peak_kb),
              static_cast<long long>(peak_kb - idle_kb), tail.c_str());
  EXPECT_LE(peak_kb - idle_kb, 64 * 1024);
  ASSERT_TRUE(p->Kill(SIGUSR1).ok());
  auto code = p->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  (*cluster)->RemoveData();
}

}  // namespace
}  // namespace berth::testing
