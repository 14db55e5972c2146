#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "spdlog/sinks/base_sink.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace berth {
namespace {

// Writes formatted lines to a file descriptor in batches, so a busy server
// pays a memcpy per line instead of a write(2) under the sink's mutex. A
// line waits in memory until 64 KiB have gathered, a line at warn or above
// arrives (written at once, with everything before it), the flusher's next
// tick (kFlushInterval) or process exit. A crash can lose at most the
// info/debug lines of the last tick. Thread-safe (base_sink's mutex).
class BatchingFdSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit BatchingFdSink(int fd) : fd_(fd) { buf_.reserve(kBatch); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    buf_.append(formatted.data(), formatted.size());
    if (buf_.size() >= kBatch || msg.level >= spdlog::level::warn) flush_();
  }

  void flush_() override {
    size_t off = 0;
    while (off < buf_.size()) {
      ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // Nowhere to report a failing stderr.
      off += static_cast<size_t>(n);
    }
    buf_.clear();
  }

 private:
  static constexpr size_t kBatch = 64 * 1024;
  const int fd_;
  std::string buf_;
};

constexpr std::chrono::milliseconds kFlushInterval(50);

// Flushes every logger each kFlushInterval. An atexit handler (registered
// after spdlog's registry exists, so it runs before the registry is
// destroyed) stops and joins the thread, then flushes once more.
struct Flusher {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // guarded by mu
  std::thread thread;
};

Flusher* g_flusher = nullptr;  // set once by StartFlusher

void StopFlusher() {
  if (g_flusher == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(g_flusher->mu);
    g_flusher->stop = true;
  }
  g_flusher->cv.notify_all();
  if (g_flusher->thread.joinable()) g_flusher->thread.join();
  FlushLogging();
}

void StartFlusher() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_flusher = new Flusher();  // never freed: lives until exit
    g_flusher->thread = std::thread([f = g_flusher] {
      std::unique_lock<std::mutex> lock(f->mu);
      while (!f->stop) {
        f->cv.wait_for(lock, kFlushInterval);
        lock.unlock();
        FlushLogging();
        lock.lock();
      }
    });
    std::atexit(StopFlusher);
  });
}

}  // namespace

absl::Status InitLogging(const std::string& level, const std::string& name) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  // from_str maps every unknown name to "off"; only accept "off" when asked.
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        "unknown --log-level '" + level +
        "' (use trace, debug, info, warn, error, critical or off)");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (isatty(STDERR_FILENO)) {
    // A terminal: colours, every line at once.
    logger = spdlog::stderr_color_mt(name);
    logger->flush_on(spdlog::level::info);
  } else {
    // A file or pipe (services, tests, benchmarks): batched writes.
    logger = std::make_shared<spdlog::logger>(
        name, std::make_shared<BatchingFdSink>(STDERR_FILENO));
    spdlog::register_logger(logger);
    logger->flush_on(spdlog::level::warn);
    StartFlusher();
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [" + name + " %t] %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

void FlushLogging() {
  spdlog::apply_all(
      [](const std::shared_ptr<spdlog::logger>& l) { l->flush(); });
}

}  // namespace berth
