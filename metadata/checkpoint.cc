#include "metadata/checkpoint.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "proto/admin.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace berth::meta {
namespace {

namespace fs = std::filesystem;
constexpr size_t kPiece = 1 << 20;

absl::Status FsyncPath(const std::string& path, bool directory) {
  int fd = open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path));
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status StreamCheckpoint(
    const Store& store, const std::string& scratch_dir,
    const std::function<bool(const CheckpointChunk&)>& send) {
  std::error_code ec;
  fs::create_directories(scratch_dir, ec);
  const std::string dir =
      absl::StrCat(scratch_dir, "/checkpoint-", RandomHex(6));
  absl::StatusOr<uint64_t> position = store.CreateCheckpoint(dir);
  if (!position.ok()) return position.status();
  absl::Status result;
  bool first = true;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const uint64_t size = entry.file_size();
    std::ifstream in(entry.path(), std::ios::binary);
    uint64_t offset = 0;
    std::string buf(kPiece, '\0');
    do {
      in.read(buf.data(), static_cast<std::streamsize>(kPiece));
      const size_t got = static_cast<size_t>(in.gcount());
      CheckpointChunk chunk;
      if (first) chunk.set_position(*position);
      first = false;
      chunk.set_file(name);
      chunk.set_file_size(size);
      chunk.set_offset(offset);
      chunk.set_data(buf.data(), got);
      offset += got;
      if (!send(chunk)) {
        result = absl::CancelledError("checkpoint receiver went away");
        break;
      }
    } while (offset < size && in);
    if (!result.ok()) break;
    if (offset != size) {
      result = absl::InternalError(absl::StrCat("short read of ", name));
      break;
    }
  }
  fs::remove_all(dir, ec);
  if (result.ok()) {
    spdlog::info("streamed a checkpoint at position {}", *position);
  }
  return result;
}

absl::StatusOr<uint64_t> FetchCheckpoint(
    const std::string& address, const std::string& dir, absl::Duration timeout,
    const tls::ChannelSecurity& security) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " exists"));
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", dir));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  security.ApplyTo("", &args);
  auto stub = Admin::NewStub(
      grpc::CreateCustomChannel(address, security.Credentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  auto reader = stub->StreamCheckpoint(&ctx, CheckpointRequest());
  CheckpointChunk chunk;
  uint64_t position = 0;
  bool first = true;
  std::string open_name;
  std::ofstream out;
  absl::Status result;
  std::vector<std::string> files;
  while (reader->Read(&chunk)) {
    if (first) position = chunk.position();
    first = false;
    if (chunk.file().empty() || chunk.file().find('/') != std::string::npos ||
        chunk.file()[0] == '.') {
      result = absl::DataLossError("bad file name in checkpoint stream");
      ctx.TryCancel();
      break;
    }
    if (chunk.file() != open_name) {
      if (out.is_open()) out.close();
      open_name = chunk.file();
      files.push_back(open_name);
      out.open(absl::StrCat(dir, "/", open_name),
               std::ios::binary | std::ios::trunc);
    }
    out.write(chunk.data().data(),
              static_cast<std::streamsize>(chunk.data().size()));
    if (!out) {
      result = absl::InternalError(absl::StrCat("write ", open_name));
      ctx.TryCancel();
      break;
    }
  }
  if (out.is_open()) out.close();
  grpc::Status fin = reader->Finish();
  if (result.ok() && !fin.ok()) {
    result = absl::UnavailableError(absl::StrCat(
        "checkpoint from ", address, ": ", fin.error_message()));
  }
  if (result.ok() && first) {
    result = absl::UnavailableError("empty checkpoint stream");
  }
  for (const std::string& f : files) {
    if (!result.ok()) break;
    result = FsyncPath(absl::StrCat(dir, "/", f), false);
  }
  if (result.ok()) result = FsyncPath(dir, true);
  if (!result.ok()) {
    fs::remove_all(dir, ec);
    return result;
  }
  spdlog::info("fetched a checkpoint at position {} from {} ({} files)",
               position, address, files.size());
  return position;
}

}  // namespace berth::meta
