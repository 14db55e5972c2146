#include "frontend/tar/layer_inspector.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace berth::tar {
namespace {

enum class Compression { kNone, kGzip, kBzip2, kXz };

Compression Detect(absl::string_view head) {
  if (head.size() >= 3 && std::memcmp(head.data(), "\x1f\x8b\x08", 3) == 0)
    return Compression::kGzip;
  if (head.size() >= 3 && std::memcmp(head.data(), "BZh", 3) == 0)
    return Compression::kBzip2;
  if (head.size() >= 6 &&
      std::memcmp(head.data(), "\xfd\x37\x7a\x58\x5a\x00", 6) == 0)
    return Compression::kXz;
  return Compression::kNone;
}

}  // namespace

LayerInspector::LayerInspector(TarConsumer* consumer, InspectorBudget budget)
    : consumer_(consumer), budget_(budget), worker_([this] { Run(); }) {}

LayerInspector::~LayerInspector() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

void LayerInspector::FeedLossy(absl::string_view data) {
  if (data.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (abandoned_ || eof_) return;
  if (queued_bytes_ + data.size() > budget_.queue_bytes) {
    abandoned_ = true;  // fell behind: give up rather than slow the upload
    queue_.clear();
    queued_bytes_ = 0;
    cv_.notify_all();
    return;
  }
  queue_.emplace_back(data);
  queued_bytes_ += data.size();
  cv_.notify_all();
}

bool LayerInspector::FeedBlocking(absl::string_view data) {
  if (data.empty()) return true;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    return abandoned_ || queued_bytes_ + data.size() <= budget_.queue_bytes ||
           queue_.empty();
  });
  if (abandoned_) return false;
  queue_.emplace_back(data);
  queued_bytes_ += data.size();
  cv_.notify_all();
  return true;
}

absl::Status LayerInspector::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (abandoned_ && result_.ok()) {
    return absl::ResourceExhaustedError("layer inspection gave up");
  }
  return result_;
}

bool LayerInspector::Pull(std::string* piece) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return abandoned_ || eof_ || !queue_.empty(); });
  if (abandoned_ || queue_.empty()) return false;
  *piece = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= piece->size();
  compressed_bytes_ += piece->size();
  cv_.notify_all();
  return true;
}

void LayerInspector::Run() {
  absl::Status st = Inspect();
  std::lock_guard<std::mutex> lock(mu_);
  result_ = st;
  if (!st.ok()) abandoned_ = true;
  cv_.notify_all();
}

namespace {

// libarchive pulls compressed bytes through this.
struct PullContext {
  LayerInspector* self;
  std::string first;      // the piece used for magic detection
  bool first_used = false;
  std::string current;
  std::function<bool(std::string*)> pull;
};

la_ssize_t ReadCallback(struct archive*, void* opaque, const void** buffer) {
  auto* ctx = static_cast<PullContext*>(opaque);
  if (!ctx->first_used) {
    ctx->first_used = true;
    *buffer = ctx->first.data();
    return static_cast<la_ssize_t>(ctx->first.size());
  }
  if (!ctx->pull(&ctx->current)) return 0;
  *buffer = ctx->current.data();
  return static_cast<la_ssize_t>(ctx->current.size());
}

}  // namespace

absl::Status LayerInspector::Inspect() {
  TarReader reader(consumer_);
  const absl::Time deadline = absl::Now() + budget_.max_time;
  uint64_t decompressed = 0;
  auto feed = [&](absl::string_view data) -> absl::Status {
    decompressed += data.size();
    if (decompressed > compressed_bytes_ * budget_.max_ratio +
                           budget_.slack_bytes) {
      return absl::ResourceExhaustedError("decompression ratio over budget");
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("layer inspection over time budget");
    }
    absl::Status st = reader.Feed(data);
    if (st.ok() && reader.entries() > budget_.max_entries) {
      return absl::ResourceExhaustedError("too many tar entries");
    }
    return st;
  };

  PullContext ctx;
  ctx.self = this;
  ctx.pull = [this](std::string* piece) { return Pull(piece); };
  // Magic numbers need up to 6 bytes; pieces may be smaller.
  std::string piece;
  while (ctx.first.size() < 6 && Pull(&piece)) ctx.first += piece;
  if (ctx.first.empty()) {
    // Empty layer (or abandoned before any byte): an empty tar.
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_) return absl::CancelledError("abandoned");
    return reader.Finish();
  }
  Compression compression = Detect(ctx.first);
  if (compression == Compression::kNone) {
    absl::Status st = feed(ctx.first);
    while (st.ok() && Pull(&piece)) st = feed(piece);
    if (!st.ok()) return st;
  } else {
    struct archive* a = archive_read_new();
    int filter = compression == Compression::kGzip    ? ARCHIVE_FILTER_GZIP
                 : compression == Compression::kBzip2 ? ARCHIVE_FILTER_BZIP2
                                                      : ARCHIVE_FILTER_XZ;
    archive_read_append_filter(a, filter);
    archive_read_support_format_raw(a);
    absl::Status st;
    if (archive_read_open(a, &ctx, nullptr, ReadCallback, nullptr) !=
        ARCHIVE_OK) {
      st = absl::InvalidArgumentError(
          absl::StrCat("undecodable compression: ", archive_error_string(a)));
    }
    struct archive_entry* entry = nullptr;
    if (st.ok()) {
      int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_OK) {
        char buf[64 * 1024];
        for (;;) {
          la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
          if (n < 0) {
            st = absl::InvalidArgumentError(absl::StrCat(
                "undecodable compression: ", archive_error_string(a)));
            break;
          }
          if (n == 0) break;
          st = feed(absl::string_view(buf, static_cast<size_t>(n)));
          if (!st.ok()) break;
        }
      } else if (r != ARCHIVE_EOF) {
        st = absl::InvalidArgumentError(absl::StrCat(
            "undecodable compression: ", archive_error_string(a)));
      }
    }
    archive_read_free(a);
    if (!st.ok()) return st;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (abandoned_) return absl::CancelledError("abandoned");
  }
  return reader.Finish();
}

}  // namespace berth::tar
