#include "frontend/image_cache.h"

#include <utility>

namespace berth::frontend {

std::shared_ptr<const meta::ImageRecord> ImageCache::Get(const std::string& id,
                                                         bool need_json) {
  if (max_bytes_ == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || (need_json && !it->second.has_json)) {
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.record;
}

void ImageCache::Put(std::shared_ptr<const meta::ImageRecord> record,
                     bool has_json) {
  if (max_bytes_ == 0 || record == nullptr ||
      record->state() != meta::COMPLETE) {
    return;
  }
  // Key and bookkeeping count too, so many tiny records stay bounded.
  const size_t bytes = record->ByteSizeLong() + record->id().size() + 128;
  if (bytes > max_bytes_ / 8) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(record->id());
  if (it != entries_.end()) {
    if (it->second.has_json && !has_json) return;  // keep the fuller one
    EraseLocked(it);
  }
  lru_.push_front(record->id());
  Entry& e = entries_[record->id()];
  e.bytes = bytes;
  e.has_json = has_json;
  e.lru = lru_.begin();
  e.record = std::move(record);
  bytes_ += bytes;
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    EraseLocked(entries_.find(lru_.back()));
  }
}

void ImageCache::EraseLocked(
    absl::flat_hash_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void ImageCache::Invalidate(uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation == generation_) return;
  generation_ = generation;
  entries_.clear();
  lru_.clear();
  bytes_ = 0;
}

size_t ImageCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t ImageCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace berth::frontend
