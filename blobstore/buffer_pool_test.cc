#include "blobstore/buffer_pool.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace berth::blob {
namespace {

TEST(BufferPoolTest, ReusesUpToMaxIdle) {
  auto pool = BufferPool::Create(1024, 2);
  char* first;
  {
    PooledBuffer a = pool->Get(1024);
    PooledBuffer b = pool->Get(10);
    PooledBuffer c = pool->Get(1);
    ASSERT_TRUE(a && b && c);
    first = a.get();
    EXPECT_EQ(pool->idle(), 0u);
  }
  EXPECT_EQ(pool->idle(), 2u);  // the third one was freed
  PooledBuffer again = pool->Get(512);
  EXPECT_EQ(pool->idle(), 1u);
  again.Release();
  EXPECT_FALSE(again);
  EXPECT_EQ(pool->idle(), 2u);
  (void)first;
}

TEST(BufferPoolTest, OversizeIsOneOffAndMoveKeepsOneOwner) {
  auto pool = BufferPool::Create(64, 4);
  {
    PooledBuffer big = pool->Get(65);
    ASSERT_TRUE(big);
    big.get()[64] = 'x';  // really 65 bytes
  }
  EXPECT_EQ(pool->idle(), 0u);
  PooledBuffer a = pool->Get(64);
  PooledBuffer b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty
  b = pool->Get(64);  // the old buffer goes back
  EXPECT_EQ(pool->idle(), 1u);
}

TEST(BufferPoolTest, OutlivesThePoolHandleAndIsThreadSafe) {
  PooledBuffer kept;
  {
    auto pool = BufferPool::Create(4096, 8);
    kept = pool->Get(4096);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([pool] {
        for (int i = 0; i < 1000; ++i) {
          PooledBuffer p = pool->Get(4096);
          p.get()[0] = static_cast<char>(i);
          p.get()[4095] = static_cast<char>(i);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_LE(pool->idle(), 8u);
  }
  kept.get()[0] = 'k';  // the buffer keeps its pool alive
  kept.Release();
}

}  // namespace
}  // namespace berth::blob
