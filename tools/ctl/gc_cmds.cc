// berthctl gc: online garbage collection of images and chunks.
//
// 1. now = the clock before anything is read; cutoff = now - grace.
// 2. Mark (ListGarbageImages, linearizable, on one replica's snapshot):
//    images no repository lists, not in the ancestry of a listed or young
//    (touched at or after the cutoff) image and named by no open upload
//    intent.
// 3. DeleteImages in batches (children first); apply re-checks each image
//    against the state at its log position and reports the upload intents
//    open there. At least one such command runs, even with no garbage: its
//    position P is the point the sweep's safety rests on.
// 4. Live chunks = every digest in the chunk references, read
//    linearizably after P.
// 5. Sweep every active or draining shard: delete the chunks that are not
//    live and were last written (or re-put) before
//    min(cutoff, oldest intent open at P - 1 s); the shard re-checks each
//    chunk's age atomically with its delete.
//
// Why no needed chunk goes: an upload either ended before P (its
// CommitLayer precedes P, so step 4 sees its references unless its image
// was itself garbage at P), was open at P (the sweep cutoff is below its
// start and every chunk it writes or re-puts is newer), or began after P
// (its chunks are written after `now`, above the cutoff). An intent that a
// gc found expired is deleted at P, so its upload can no longer commit
// (UPLOAD_EXPIRED). Chunk ages come from the shards' clocks and intent
// starts from the frontends': the grace period must exceed clock skew.
// Run one gc at a time.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "blobstore/maintenance.h"
#include "nlohmann/json.hpp"
#include "tools/ctl/cluster_blobs.h"
#include "tools/ctl/commands.h"

namespace berth::ctl {
namespace {

struct GcFlags {
  std::string grace = "1h";
  bool dry_run = false;
  int batch = 500;  // image ids per DeleteImages command
};

struct ShardOutcome {
  std::string id;
  blob::SweepReport report;
  std::string error;  // "" = swept
};

absl::Status DomainError(const berth::Error& error, const char* what) {
  if (error.reason() == REASON_UNSPECIFIED) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", error.message()));
}

// Every chunk digest the layer of some image not in `doomed` references
// (linearizable pages). `doomed`: the images a dry run would delete.
absl::StatusOr<absl::flat_hash_set<std::string>> LiveChunks(
    meta::MetadataClient& metadata,
    const absl::flat_hash_set<std::string>& doomed) {
  absl::flat_hash_set<std::string> live;
  meta::ListChunkRefsRequest request;
  request.set_limit(1000);
  while (true) {
    auto page = metadata.ListChunkRefs(request);
    if (!page.ok()) return page.status();
    if (absl::Status st = DomainError(page->error(), "listing chunk references");
        !st.ok()) {
      return st;
    }
    for (const auto& c : page->chunks()) {
      for (const std::string& image : c.image_ids()) {
        if (!doomed.contains(image)) {
          live.insert(c.digest());
          break;
        }
      }
    }
    if (!page->more() || page->chunks().empty()) break;
    request.set_start_after(page->chunks(page->chunks_size() - 1).digest());
  }
  return live;
}

// What a sweep would do, without deleting (--dry-run).
absl::StatusOr<blob::SweepReport> CountSweep(
    const blob::BlobClient& client, const std::string& shard_id,
    const absl::flat_hash_set<std::string>& live, absl::Time cutoff) {
  int index = client.IndexOf(shard_id);
  if (index < 0) return absl::NotFoundError("unknown shard " + shard_id);
  blob::ShardConnection& conn = *client.shards()[index].conn;
  const int64_t cutoff_ns = absl::ToUnixNanos(cutoff);
  blob::SweepReport report;
  std::string after;
  do {
    auto page = conn.ListChunks(after, 1000, client.Deadline());
    if (!page.ok()) return page.status();
    for (const blob::ChunkEntry& e : page->chunks) {
      ++report.listed;
      if (live.contains(e.digest)) {
        ++report.kept_live;
      } else if (e.mtime_unix_nanos > cutoff_ns) {
        ++report.kept_young;
      } else {
        ++report.deleted;
        report.bytes_deleted += e.size;
      }
    }
    after = page->next_start_after;
  } while (!after.empty());
  return report;
}

int RunGc(Context* ctx, const GcFlags& flags) {
  absl::Duration grace;
  if (!absl::ParseDuration(flags.grace, &grace) || grace < absl::ZeroDuration()) {
    return ctx->Fail(absl::InvalidArgumentError(
        "--grace wants a duration such as 30m, 1h or 0s"));
  }
  if (flags.batch < 1) {
    return ctx->Fail(absl::InvalidArgumentError("--batch must be at least 1"));
  }
  auto metadata_or = ctx->Metadata();
  if (!metadata_or.ok()) return ctx->Fail(metadata_or.status());
  meta::MetadataClient& metadata = **metadata_or;
  // The shard map first: without one there is nothing to sweep, and no
  // image should go before its chunks can be.
  auto blobs = OpenClusterBlobs(ctx);
  if (!blobs.ok()) return ctx->Fail(blobs.status());

  const absl::Time now = absl::Now();
  const int64_t now_ms = absl::ToUnixMillis(now);
  const int64_t cutoff_ms = absl::ToUnixMillis(now - grace);

  meta::ListGarbageImagesRequest plan_request;
  plan_request.set_cutoff_unix_ms(cutoff_ms);
  plan_request.set_now_unix_ms(now_ms);
  auto plan = metadata.ListGarbageImages(plan_request);
  if (!plan.ok()) return ctx->Fail(plan.status());
  if (absl::Status st = DomainError(plan->error(), "marking"); !st.ok()) {
    return ctx->Fail(st);
  }

  std::vector<std::string> deleted;
  uint64_t kept = 0, expired_uploads = 0, open_uploads = 0;
  int64_t oldest_upload_ms = 0;
  if (flags.dry_run) {
    deleted.assign(plan->garbage().begin(), plan->garbage().end());
    for (const auto& u : plan->open_uploads()) {
      ++open_uploads;
      if (oldest_upload_ms == 0 || u.started_unix_ms() < oldest_upload_ms) {
        oldest_upload_ms = u.started_unix_ms();
      }
    }
  } else {
    const int total = plan->garbage_size();
    for (int first = 0; first == 0 || first < total; first += flags.batch) {
      meta::Command command;
      meta::DeleteImages* del = command.mutable_delete_images();
      for (int i = first; i < std::min(total, first + flags.batch); ++i) {
        del->add_ids(plan->garbage(i));
      }
      del->set_cutoff_unix_ms(cutoff_ms);
      del->set_now_unix_ms(now_ms);
      auto result = metadata.Execute(std::move(command));
      if (!result.ok()) return ctx->Fail(result.status());
      if (absl::Status st = DomainError(result->error(), "deleting images");
          !st.ok()) {
        return ctx->Fail(st);
      }
      const meta::GcResult& gc = result->gc();
      deleted.insert(deleted.end(), gc.deleted().begin(), gc.deleted().end());
      kept += gc.kept();
      expired_uploads += gc.expired_uploads();
      // The last command's position is P; an earlier one's intents are
      // either still open at P or ended (covered by the refs read).
      open_uploads = gc.open_uploads();
      oldest_upload_ms = gc.oldest_upload_unix_ms();
      if (total == 0) break;
    }
  }

  absl::Time sweep_cutoff = now - grace;
  if (oldest_upload_ms > 0) {
    sweep_cutoff = std::min(sweep_cutoff, absl::FromUnixMillis(oldest_upload_ms) -
                                              absl::Seconds(1));
  }
  absl::flat_hash_set<std::string> doomed;
  if (flags.dry_run) doomed.insert(deleted.begin(), deleted.end());
  auto live = LiveChunks(metadata, doomed);
  if (!live.ok()) return ctx->Fail(live.status());

  std::vector<ShardOutcome> shards;
  bool shard_failed = false;
  for (const meta::ShardInfo& info : blobs->config.shards()) {
    if (info.state() != meta::SHARD_ACTIVE && info.state() != meta::SHARD_DRAINING) {
      continue;  // a down shard is repaired, not swept
    }
    ShardOutcome out;
    out.id = info.id();
    absl::StatusOr<blob::SweepReport> report =
        flags.dry_run
            ? CountSweep(*blobs->client, info.id(), *live, sweep_cutoff)
            : blob::SweepShard(*blobs->client, info.id(), *live,
                               absl::ZeroDuration(), sweep_cutoff);
    if (report.ok()) {
      out.report = *report;
    } else {
      out.error = report.status().ToString();
      shard_failed = true;
    }
    shards.push_back(std::move(out));
  }

  uint64_t chunks_deleted = 0, bytes_deleted = 0;
  for (const auto& s : shards) {
    chunks_deleted += s.report.deleted;
    bytes_deleted += s.report.bytes_deleted;
  }
  if (ctx->flags.json) {
    nlohmann::json out = {
        {"dry_run", flags.dry_run},
        {"grace_seconds", absl::ToInt64Seconds(grace)},
        {"images", plan->images()},
        {"images_deleted", deleted},
        {"images_kept", kept},
        {"open_uploads", open_uploads},
        {"expired_uploads", expired_uploads},
        {"sweep_cutoff_unix_ms", absl::ToUnixMillis(sweep_cutoff)},
        {"live_chunks", live->size()},
        {"chunks_deleted", chunks_deleted},
        {"bytes_deleted", bytes_deleted},
        {"shards", nlohmann::json::array()}};
    for (const auto& s : shards) {
      nlohmann::json j = {{"id", s.id},
                          {"listed", s.report.listed},
                          {"deleted", s.report.deleted},
                          {"bytes_deleted", s.report.bytes_deleted},
                          {"kept_live", s.report.kept_live},
                          {"kept_young", s.report.kept_young}};
      if (!s.error.empty()) j["error"] = s.error;
      out["shards"].push_back(std::move(j));
    }
    std::cout << out.dump() << "\n";
  } else {
    const char* verb = flags.dry_run ? "would delete" : "deleted";
    std::printf("images: %llu in all, %s %zu, %llu found live again\n",
                static_cast<unsigned long long>(plan->images()), verb,
                deleted.size(), static_cast<unsigned long long>(kept));
    std::printf("uploads in flight: %llu (expired intents removed: %llu)\n",
                static_cast<unsigned long long>(open_uploads),
                static_cast<unsigned long long>(expired_uploads));
    std::printf("live chunks: %zu; sweeping chunks older than %s\n\n",
                live->size(), absl::FormatTime(sweep_cutoff).c_str());
    std::printf("%-16s %10s %12s %14s %10s %10s\n", "SHARD", "LISTED",
                flags.dry_run ? "WOULD DEL" : "DELETED", "BYTES", "LIVE", "YOUNG");
    for (const auto& s : shards) {
      if (!s.error.empty()) {
        std::printf("%-16s error: %s\n", s.id.c_str(), s.error.c_str());
        continue;
      }
      std::printf("%-16s %10llu %12llu %14llu %10llu %10llu\n", s.id.c_str(),
                  static_cast<unsigned long long>(s.report.listed),
                  static_cast<unsigned long long>(s.report.deleted),
                  static_cast<unsigned long long>(s.report.bytes_deleted),
                  static_cast<unsigned long long>(s.report.kept_live),
                  static_cast<unsigned long long>(s.report.kept_young));
    }
    std::printf("\nchunks %s: %llu (%llu bytes)\n", verb,
                static_cast<unsigned long long>(chunks_deleted),
                static_cast<unsigned long long>(bytes_deleted));
  }
  return shard_failed ? kExitFailed : kExitOk;
}

}  // namespace

void AddGcCommands(CLI::App& app, Context* ctx) {
  auto flags = std::make_shared<GcFlags>();
  CLI::App* gc = app.add_subcommand(
      "gc",
      "delete unreachable images and sweep unreferenced chunks (online: "
      "pushes and pulls go on)");
  gc->add_option("--grace", flags->grace,
                 "spare images touched and chunks written within this long "
                 "(e.g. 30m, 1h, 0s; must exceed clock skew between hosts)")
      ->capture_default_str();
  gc->add_flag("--dry-run", flags->dry_run,
               "report what would be deleted; delete nothing");
  gc->add_option("--batch", flags->batch, "image ids per metadata command")
      ->capture_default_str();
  OnRun(gc, ctx, [ctx, flags] { return RunGc(ctx, *flags); });
}

}  // namespace berth::ctl
