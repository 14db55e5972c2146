// Reads a layer as a tar on a thread of its own while the layer streams by:
// detects gzip/bzip2/xz by magic number (one level, spec §3.2.2),
// decompresses with libarchive and feeds our TarReader, which drives a
// TarConsumer (TarSum, file list).
//
// Two ways to feed it:
//  - FeedLossy(): never blocks. If the inspector falls more than
//    `queue_bytes` behind, it gives up (the upload is never held back,
//    spec §2.6.4/§3.2.9).
//  - FeedBlocking(): waits for room (for reads that exist only to inspect,
//    e.g. GET /files).
// Budgets (decompressed size ratio, entries, time) make it give up on
// bombs. A gave-up or invalid archive yields a non-OK Finish().
//
// Threads: the feeding thread owns Feed*/Finish; the worker thread owns the
// decompressor, the reader and the consumer until Finish() joins it.
#ifndef BERTH_FRONTEND_TAR_LAYER_INSPECTOR_H_
#define BERTH_FRONTEND_TAR_LAYER_INSPECTOR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "frontend/tar/tar_reader.h"

namespace berth::tar {

struct InspectorBudget {
  size_t queue_bytes = 16 << 20;
  uint64_t max_entries = 500000;
  // Decompressed bytes may exceed compressed bytes by this factor plus
  // `slack_bytes`; beyond that the archive counts as a bomb.
  uint64_t max_ratio = 200;
  uint64_t slack_bytes = 64 << 20;
  absl::Duration max_time = absl::Minutes(30);
};

class LayerInspector {
 public:
  // `consumer` must outlive the inspector; only the worker touches it.
  LayerInspector(TarConsumer* consumer, InspectorBudget budget = {});
  ~LayerInspector();  // abandons and joins

  void FeedLossy(absl::string_view data);
  // Returns false once the inspector has stopped (gave up or failed).
  bool FeedBlocking(absl::string_view data);

  // End of input: waits for the worker. OK only if the whole layer was a
  // valid tar within budget; then the consumer holds the full result.
  absl::Status Finish();

 private:
  void Run();
  // Worker side: next queued piece into `*piece`; false at end of input or
  // when abandoned.
  bool Pull(std::string* piece);
  absl::Status Inspect();

  TarConsumer* const consumer_;
  const InspectorBudget budget_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // guarded by mu_
  size_t queued_bytes_ = 0;        // guarded by mu_
  bool eof_ = false;               // guarded by mu_
  bool abandoned_ = false;         // guarded by mu_
  absl::Status result_;            // guarded by mu_, set by the worker
  uint64_t compressed_bytes_ = 0;  // worker only
  std::thread worker_;
};

}  // namespace berth::tar

#endif  // BERTH_FRONTEND_TAR_LAYER_INSPECTOR_H_
