#include "tools/v1client/files.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"

namespace berth::v1client {
namespace {

constexpr size_t kPiece = 1 << 20;

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<std::string> GzipDiffId(std::ifstream& in, const std::string& path) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return absl::InternalError("inflateInit2");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  Sha256 h;
  std::vector<char> inbuf(kPiece), outbuf(kPiece);
  bool ended = false;  // at the end of a gzip member
  for (;;) {
    in.read(inbuf.data(), inbuf.size());
    size_t got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    zs.next_in = reinterpret_cast<Bytef*>(inbuf.data());
    zs.avail_in = static_cast<uInt>(got);
    do {
      if (ended) {
        if (zs.avail_in == 0) break;
        // Concatenated gzip members (pigz, some exporters) continue.
        inflateReset(&zs);
        ended = false;
      }
      zs.next_out = reinterpret_cast<Bytef*>(outbuf.data());
      zs.avail_out = static_cast<uInt>(outbuf.size());
      int ret = inflate(&zs, Z_NO_FLUSH);
      if (ret == Z_STREAM_END) {
        ended = true;
      } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
        return absl::DataLossError(absl::StrCat("corrupt gzip layer ", path));
      }
      h.Update(outbuf.data(), outbuf.size() - zs.avail_out);
      if (ret == Z_BUF_ERROR) break;  // needs more input
    } while (zs.avail_in > 0 || zs.avail_out == 0);
  }
  if (!ended) return absl::DataLossError(absl::StrCat("truncated gzip layer ", path));
  return "sha256:" + h.HexDigest();
}

absl::StatusOr<std::string> FilterDiffId(const std::string& path) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), kPiece) != ARCHIVE_OK) {
    return absl::DataLossError(absl::StrCat("cannot read layer ", path, ": ",
                                            archive_error_string(a.get())));
  }
  archive_entry* e = nullptr;
  Sha256 h;
  if (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    std::vector<char> buf(kPiece);
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
      if (n < 0) {
        return absl::DataLossError(absl::StrCat("corrupt layer ", path, ": ",
                                                archive_error_string(a.get())));
      }
      if (n == 0) break;
      h.Update(buf.data(), static_cast<size_t>(n));
    }
  }
  return "sha256:" + h.HexDigest();
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Errno("cannot read", path);
  return out;
}

absl::Status WriteStringToFile(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return Errno("cannot write", path);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Errno("cannot stat", path);
  return static_cast<uint64_t>(st.st_size);
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix,
                                        const std::string& parent) {
  std::string base = parent;
  if (base.empty()) {
    const char* t = std::getenv("TMPDIR");
    base = (t != nullptr && *t != '\0') ? t : "/tmp";
  }
  std::string tmpl = absl::StrCat(base, "/", prefix, "XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return Errno("cannot create a directory in", base);
  return std::string(buf.data());
}

absl::Status RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> DiffIdOfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  char magic[6] = {0};
  in.read(magic, sizeof(magic));
  size_t got = static_cast<size_t>(in.gcount());
  in.clear();
  in.seekg(0);
  if (got >= 2 && static_cast<unsigned char>(magic[0]) == 0x1f &&
      static_cast<unsigned char>(magic[1]) == 0x8b) {
    return GzipDiffId(in, path);
  }
  bool bzip2 = got >= 3 && std::memcmp(magic, "BZh", 3) == 0;
  bool xz = got >= 6 && std::memcmp(magic, "\xfd" "7zXZ\0", 6) == 0;
  if (bzip2 || xz) return FilterDiffId(path);
  Sha256 h;
  std::vector<char> buf(kPiece);
  while (in) {
    in.read(buf.data(), buf.size());
    h.Update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return "sha256:" + h.HexDigest();
}

absl::StatusOr<std::string> SafeJoin(const std::string& root, absl::string_view name) {
  while (absl::ConsumePrefix(&name, "./")) {
  }
  if (name.empty() || name[0] == '/') {
    return absl::InvalidArgumentError(absl::StrCat("bad path \"", name, "\" in archive"));
  }
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("path \"", name, "\" escapes the archive"));
    }
  }
  return absl::StrCat(root, "/", name);
}

}  // namespace berth::v1client
