// TarSum v0/v1 (spec §3.2) as a TarConsumer: feed a TarReader with the
// decompressed layer and ask for the result.
#ifndef BERTH_FRONTEND_TAR_TARSUM_H_
#define BERTH_FRONTEND_TAR_TARSUM_H_

#include <memory>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "frontend/tar/tar_reader.h"

namespace berth::tar {

class TarSum final : public TarConsumer {
 public:
  enum class Version { kV0, kV1 };
  // `extra_payload` is the image json (empty for plain tars).
  TarSum(Version version, std::string extra_payload);

  void OnEntry(const TarEntry& entry) override;
  void OnData(absl::string_view data) override;
  void OnEntryEnd() override;

  // "tarsum+sha256:<hex>" or "tarsum.v1+sha256:<hex>".
  std::string Result() const;

 private:
  struct Digest {
    std::string hex;
    std::string normalized_name;
  };
  const Version version_;
  const std::string extra_payload_;
  Sha256 entry_hash_;
  std::string current_name_;
  std::vector<Digest> digests_;  // archive order
};

// The header string of spec §3.2.4 (exposed for tests).
std::string TarSumHeader(const TarEntry& entry, TarSum::Version version);

// True for ^tarsum(\.v1|\.dev)?\+sha256:[0-9a-f]{64}$ (spec §3.2.1).
bool IsTarSum(const std::string& value);

}  // namespace berth::tar

#endif  // BERTH_FRONTEND_TAR_TARSUM_H_
