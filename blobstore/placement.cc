#include "blobstore/placement.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/options.h"

namespace berth::blob {
namespace {

uint64_t Fnv1a(uint64_t h, absl::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// splitmix64's finalizer: every input bit affects every output bit.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Scored {
  size_t index;
  double score;
};

// Shards passing `keep`, by descending score (ties by index).
template <class Keep>
std::vector<Scored> Ranked(const std::vector<ShardInfo>& shards,
                           absl::string_view digest, Keep keep) {
  std::vector<Scored> ranked;
  for (size_t i = 0; i < shards.size(); ++i) {
    if (keep(shards[i])) ranked.push_back({i, RendezvousScore(shards[i], digest)});
  }
  std::sort(ranked.begin(), ranked.end(), [](const Scored& a, const Scored& b) {
    return a.score != b.score ? a.score > b.score : a.index < b.index;
  });
  return ranked;
}

}  // namespace

const char* ShardStateName(ShardState state) {
  switch (state) {
    case ShardState::kActive:
      return "active";
    case ShardState::kDraining:
      return "draining";
    case ShardState::kDown:
      return "down";
  }
  return "?";
}

absl::StatusOr<ShardState> ParseShardState(absl::string_view name) {
  for (ShardState s :
       {ShardState::kActive, ShardState::kDraining, ShardState::kDown}) {
    if (name == ShardStateName(s)) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "shard state '", name, "' is not active, draining or down"));
}

absl::StatusOr<std::vector<ShardInfo>> ParseShardMap(absl::string_view spec) {
  std::vector<ShardInfo> shards;
  std::set<std::string> ids;
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard '", item, "' is not id=host:port[@zone[:weight[:state]]]",
                       why.empty() ? "" : ": ", why));
    };
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(item, absl::MaxSplits('=', 1));
    std::pair<absl::string_view, absl::string_view> addr_rest =
        absl::StrSplit(kv.second, absl::MaxSplits('@', 1));
    ShardInfo shard;
    shard.id = std::string(kv.first);
    if (shard.id.empty()) return bad("empty id");
    auto hp = ParseHostPort(std::string(addr_rest.first));
    if (!hp.ok()) return bad(hp.status().message());
    shard.address = hp->ToString();
    shard.zone = shard.id;
    if (absl::StrContains(kv.second, '@')) {
      std::vector<absl::string_view> parts =
          absl::StrSplit(addr_rest.second, ':');
      if (parts.size() > 3 || parts[0].empty()) return bad("bad zone part");
      shard.zone = std::string(parts[0]);
      if (parts.size() > 1 &&
          (!absl::SimpleAtod(parts[1], &shard.weight) ||
           !(shard.weight > 0) || !std::isfinite(shard.weight))) {
        return bad("weight must be a positive number");
      }
      if (parts.size() > 2) {
        auto state = ParseShardState(parts[2]);
        if (!state.ok()) return bad(state.status().message());
        shard.state = *state;
      }
    }
    if (!ids.insert(shard.id).second) return bad("duplicate id");
    shards.push_back(std::move(shard));
  }
  if (shards.empty()) return absl::InvalidArgumentError("the shard map is empty");
  return shards;
}

uint64_t RendezvousHash(absl::string_view shard_id, absl::string_view digest) {
  uint64_t h = Fnv1a(0xcbf29ce484222325ull, shard_id);
  h = Fnv1a(h ^ 0xff, digest);
  return Mix(h);
}

double RendezvousScore(const ShardInfo& shard, absl::string_view digest) {
  // 53 random bits -> u in (0, 1), never 0 or 1.
  const double u =
      (static_cast<double>(RendezvousHash(shard.id, digest) >> 11) + 0.5) /
      9007199254740992.0;
  return shard.weight / -std::log(u);
}

std::vector<size_t> PlaceChunk(const std::vector<ShardInfo>& shards,
                               absl::string_view digest, size_t r) {
  std::vector<Scored> ranked = Ranked(shards, digest, [](const ShardInfo& s) {
    return s.state == ShardState::kActive;
  });
  std::vector<size_t> chosen;
  std::vector<bool> taken(ranked.size(), false);
  std::set<std::string> zones;
  // First pass: the best shard of each zone, best zones first.
  for (size_t k = 0; k < ranked.size() && chosen.size() < r; ++k) {
    if (zones.insert(shards[ranked[k].index].zone).second) {
      chosen.push_back(ranked[k].index);
      taken[k] = true;
    }
  }
  // Zones ran out: the best of the rest.
  for (size_t k = 0; k < ranked.size() && chosen.size() < r; ++k) {
    if (!taken[k]) chosen.push_back(ranked[k].index);
  }
  return chosen;
}

std::vector<size_t> ReadPreference(const std::vector<ShardInfo>& shards,
                                   absl::string_view digest,
                                   absl::string_view zone) {
  std::vector<Scored> ranked = Ranked(shards, digest, [](const ShardInfo& s) {
    return s.state != ShardState::kDown;
  });
  std::stable_partition(ranked.begin(), ranked.end(), [&](const Scored& s) {
    return !zone.empty() && shards[s.index].zone == zone;
  });
  std::vector<size_t> order;
  for (const Scored& s : ranked) order.push_back(s.index);
  return order;
}

}  // namespace berth::blob
