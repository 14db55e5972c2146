#include "tests/bridge_util.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/harness/process.h"

namespace berth::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::Status WriteTar(const std::string& path, const TarEntries& entries) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), path.c_str()) != ARCHIVE_OK) {
    return absl::InternalError(archive_error_string(a.get()));
  }
  for (const auto& [name, data] : entries) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                              archive_entry_free);
    bool dir = absl::EndsWith(name, "/");
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e.get(), dir ? 0755 : 0644);
    archive_entry_set_size(e.get(), dir ? 0 : static_cast<la_int64_t>(data.size()));
    archive_entry_set_mtime(e.get(), 1700000000, 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        (!dir && !data.empty() && archive_write_data(a.get(), data.data(), data.size()) < 0)) {
      return absl::InternalError(archive_error_string(a.get()));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return absl::InternalError(archive_error_string(a.get()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ReadTar(const std::string& path) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::InternalError(archive_error_string(a.get()));
  }
  std::map<std::string, std::string> out;
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    std::string data;
    char buf[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf, sizeof(buf))) > 0) data.append(buf, n);
    if (n < 0) return absl::InternalError(archive_error_string(a.get()));
    out[archive_entry_pathname(e)] = std::move(data);
  }
  if (r != ARCHIVE_EOF) return absl::InternalError(archive_error_string(a.get()));
  return out;
}

absl::StatusOr<std::string> TarBytes(const TarEntries& files) {
  std::string path = MakeTempDir("tarbytes-") + "/t.tar";
  if (absl::Status s = WriteTar(path, files); !s.ok()) return s;
  std::string data = Slurp(path);
  std::remove(path.c_str());
  return data;
}

std::string Gzip(const std::string& data) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

absl::StatusOr<std::string> Gunzip(const std::string& data) {
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  inflateInit2(&zs, 15 + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[1 << 16];
  int r;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    r = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (r == Z_OK);
  inflateEnd(&zs);
  if (r != Z_STREAM_END) return absl::DataLossError("bad gzip");
  return out;
}

CommandResult RunBerthctl(const std::vector<std::string>& args) {
  static int n = 0;
  std::string dir = MakeTempDir("berthctl-run-");
  std::string out = dir + "/out", err = dir + "/err";
  // The harness logs stdout and stderr together; a shell keeps them apart.
  std::string cmd = "exec \"$0\"";
  for (size_t i = 0; i < args.size(); ++i) absl::StrAppend(&cmd, " \"${", i + 1, "}\"");
  absl::StrAppend(&cmd, " >", out, " 2>", err);
  ProcessOptions o;
  o.name = absl::StrCat("berthctl-", ++n);
  o.argv = {"/bin/sh", "-c", cmd, RunfilePath("tools/berthctl")};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.dump_log_on_failure = false;
  CommandResult r;
  absl::StatusOr<std::unique_ptr<Process>> p = Process::Start(o);
  if (!p.ok()) {
    r.err = std::string(p.status().message());
    return r;
  }
  absl::StatusOr<int> code = (*p)->Wait(absl::Seconds(60));
  r.exit_code = code.ok() ? *code : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

}  // namespace berth::testing
