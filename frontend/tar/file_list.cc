#include "frontend/tar/file_list.h"

#include "absl/strings/match.h"

namespace berth::tar {
namespace {

const char* TypeLetter(char typeflag) {
  switch (typeflag) {
    case '0':
    case '\0':
      return "f";
    case '1':
      return "l";
    case '2':
      return "s";
    case '3':
      return "c";
    case '4':
      return "b";
    case '5':
      return "d";
    case '6':
      return "i";
    case '7':
      return "t";
    default:
      return "u";
  }
}

}  // namespace

void FileList::OnEntry(const TarEntry& e) {
  std::string path = e.name;
  if (path == ".") {
    path = "/";
  } else if (absl::StartsWith(path, "./")) {
    path = path.substr(1);
  }
  if (path.size() > 1 && absl::EndsWith(path, "/")) path.pop_back();
  // AUFS whiteouts: ".wh.<name>" marks <name> deleted; ".wh..wh.*" is
  // AUFS bookkeeping and not a file.
  size_t slash = path.rfind('/');
  size_t base = slash == std::string::npos ? 0 : slash + 1;
  bool deleted = false;
  if (path.compare(base, 8, ".wh..wh.") == 0) return;
  if (path.compare(base, 4, ".wh.") == 0) {
    path.erase(base, 4);
    deleted = true;
  }
  files_.push_back({path, TypeLetter(e.typeflag), deleted, e.size, e.mtime,
                    e.mode, e.uid, e.gid});
}

}  // namespace berth::tar
