#include "frontend/image_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace berth::frontend {
namespace {

std::shared_ptr<const meta::ImageRecord> Record(const std::string& id,
                                                meta::ImageState state,
                                                size_t json_size = 10) {
  auto r = std::make_shared<meta::ImageRecord>();
  r->set_id(id);
  r->set_state(state);
  r->set_json(std::string(json_size, 'j'));
  return r;
}

TEST(ImageCacheTest, KeepsOnlyCompleteImages) {
  ImageCache cache(1 << 20);
  cache.Put(Record("a", meta::LAYER_UPLOADED), true);
  EXPECT_EQ(cache.Get("a", false), nullptr);
  cache.Put(Record("b", meta::COMPLETE), true);
  auto b = cache.Get("b", true);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->id(), "b");
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ImageCacheTest, RecordWithoutJsonDoesNotServeJsonReads) {
  ImageCache cache(1 << 20);
  cache.Put(Record("a", meta::COMPLETE, 0), /*has_json=*/false);
  EXPECT_NE(cache.Get("a", false), nullptr);
  EXPECT_EQ(cache.Get("a", true), nullptr);
  cache.Put(Record("a", meta::COMPLETE), /*has_json=*/true);
  EXPECT_NE(cache.Get("a", true), nullptr);
  // A later json-less record does not replace the fuller one.
  cache.Put(Record("a", meta::COMPLETE, 0), /*has_json=*/false);
  EXPECT_NE(cache.Get("a", true), nullptr);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ImageCacheTest, EvictsLeastRecentlyUsedWithinBudget) {
  // Each record costs ~0.9 KiB; the budget holds eight.
  ImageCache cache(8 * 1024);
  cache.Put(Record("a", meta::COMPLETE, 800), true);
  cache.Put(Record("b", meta::COMPLETE, 800), true);
  cache.Put(Record("c", meta::COMPLETE, 800), true);
  ASSERT_NE(cache.Get("a", true), nullptr);  // a is now the most recent
  for (int i = 0; i < 6; ++i) {
    cache.Put(Record("x" + std::to_string(i), meta::COMPLETE, 800), true);
  }
  EXPECT_LE(cache.bytes(), 8u * 1024);
  EXPECT_EQ(cache.Get("b", true), nullptr);  // least recent went first
  EXPECT_NE(cache.Get("x5", true), nullptr);
}

TEST(ImageCacheTest, RefusesRecordsLargerThanAnEighthOfTheBudget) {
  ImageCache cache(8 * 1024);
  cache.Put(Record("big", meta::COMPLETE, 2000), true);
  EXPECT_EQ(cache.Get("big", true), nullptr);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ImageCacheTest, ZeroBudgetDisables) {
  ImageCache cache(0);
  cache.Put(Record("a", meta::COMPLETE), true);
  EXPECT_EQ(cache.Get("a", true), nullptr);
}

TEST(ImageCacheTest, ANewDeletionGenerationDropsEverything) {
  ImageCache cache(1 << 20);
  cache.Put(Record("a", meta::COMPLETE), true);
  cache.Invalidate(0);  // the generation it started with: nothing changes
  EXPECT_NE(cache.Get("a", true), nullptr);
  cache.Invalidate(1);  // gc deleted images
  EXPECT_EQ(cache.Get("a", true), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
  cache.Put(Record("b", meta::COMPLETE), true);
  cache.Invalidate(1);
  EXPECT_NE(cache.Get("b", true), nullptr);
}

}  // namespace
}  // namespace berth::frontend
