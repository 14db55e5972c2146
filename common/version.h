// Berth's version, reported by frontends to the metadata tier (berthctl
// status shows it, so a rolling upgrade's mixed versions are visible) and
// printed by berthctl --version. Bump with every release.
#ifndef BERTH_COMMON_VERSION_H_
#define BERTH_COMMON_VERSION_H_

namespace berth {

inline constexpr char kBerthVersion[] = "0.9.0";

}  // namespace berth

#endif  // BERTH_COMMON_VERSION_H_
