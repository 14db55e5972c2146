// The file list of a layer (spec §2.6.7) as a TarConsumer.
#ifndef BERTH_FRONTEND_TAR_FILE_LIST_H_
#define BERTH_FRONTEND_TAR_FILE_LIST_H_

#include <string>

#include "frontend/tar/tar_reader.h"
#include "nlohmann/json.hpp"

namespace berth::tar {

class FileList final : public TarConsumer {
 public:
  void OnEntry(const TarEntry& entry) override;
  void OnData(absl::string_view) override {}
  void OnEntryEnd() override {}

  // [[path, type, deleted, size, mtime, mode, uid, gid], ...]
  const nlohmann::json& files() const { return files_; }

 private:
  nlohmann::json files_ = nlohmann::json::array();
};

}  // namespace berth::tar

#endif  // BERTH_FRONTEND_TAR_FILE_LIST_H_
