#include "common/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace berth {
namespace {

std::string LabelText(const Labels& labels, const std::string& extra = "") {
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) {
    std::string escaped = absl::StrReplaceAll(
        v, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
    parts.push_back(absl::StrCat(k, "=\"", escaped, "\""));
  }
  if (!extra.empty()) parts.push_back(extra);
  if (parts.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

const std::vector<double>& DefaultBounds() {
  static const auto* b = new std::vector<double>{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return *b;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(v * 1e6),
                        std::memory_order_relaxed);
}

Counter* Metrics::GetCounter(const std::string& name, const std::string& help,
                             const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  f.type = "counter";
  if (f.help.empty()) f.help = help;
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return slot.get();
}

Gauge* Metrics::GetGauge(const std::string& name, const std::string& help,
                         const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  f.type = "gauge";
  if (f.help.empty()) f.help = help;
  auto& slot = f.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return slot.get();
}

Histogram* Metrics::GetHistogram(const std::string& name,
                                 const std::string& help, const Labels& labels,
                                 std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = families_[name];
  f.type = "histogram";
  if (f.help.empty()) f.help = help;
  auto& slot = f.histograms[labels];
  if (!slot) {
    slot = std::make_unique<Histogram>(bounds.empty() ? DefaultBounds()
                                                      : std::move(bounds));
  }
  return slot.get();
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n# TYPE ", name, " ",
                    f.type, "\n");
    for (const auto& [labels, c] : f.counters) {
      absl::StrAppend(&out, name, LabelText(labels), " ", c->value(), "\n");
    }
    for (const auto& [labels, g] : f.gauges) {
      absl::StrAppend(&out, name, LabelText(labels), " ", g->value(), "\n");
    }
    for (const auto& [labels, h] : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h->bounds_.size(); ++i) {
        cumulative += h->buckets_[i].load(std::memory_order_relaxed);
        std::string le = i < h->bounds_.size()
                             ? absl::StrCat("le=\"", h->bounds_[i], "\"")
                             : "le=\"+Inf\"";
        absl::StrAppend(&out, name, "_bucket", LabelText(labels, le), " ",
                        cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", LabelText(labels), " ",
                      h->sum_micros_.load() / 1e6, "\n", name, "_count",
                      LabelText(labels), " ", h->count_.load(), "\n");
    }
  }
  return out;
}

}  // namespace berth
