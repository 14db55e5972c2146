// Human output of berthctl: aligned text tables and a few value formats.
// Every command prints a Table for people and one JSON document with
// --json for scripts (the JSON is built by the command, not from here).
#ifndef BERTH_TOOLS_CTL_TABLE_H_
#define BERTH_TOOLS_CTL_TABLE_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace berth::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  // Columns padded to their widest cell, two spaces apart; the last
  // column is not padded.
  void Print(FILE* out = stdout) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string HumanBytes(uint64_t bytes);        // "1.5 GiB"
std::string SecondsAgo(int64_t then_unix);    // "4s ago", "-" for 0
std::string FormatUnixTime(int64_t unix_seconds);  // "2026-11-28 10:05Z"
std::string Fixed(double value, int decimals);

}  // namespace berth::ctl

#endif  // BERTH_TOOLS_CTL_TABLE_H_
