#include "core/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace nexus::core {
namespace {

void AppendLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendLabels(std::string& out, const MetricLabels& labels,
                  const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && extra == nullptr) return;
  out += '{';
  bool first = true;
  auto append = [&](const std::pair<std::string, std::string>& label) {
    if (!first) out += ',';
    first = false;
    out += label.first;
    out += "=\"";
    AppendLabelValue(out, label.second);
    out += '"';
  };
  for (const auto& label : labels) append(label);
  if (extra != nullptr) append(*extra);
  out += '}';
}

std::string FormatNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return absl::StrCat(v);
}

}  // namespace

Metrics::Family& Metrics::FamilyFor(std::string_view name, Kind kind) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{}).first;
    it->second.kind = kind;
  }
  return it->second;
}

void Metrics::DescribeCounter(std::string_view name, std::string_view help) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, Kind::kCounter).help = std::string(help);
}

void Metrics::DescribeGauge(std::string_view name, std::string_view help) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, Kind::kGauge).help = std::string(help);
}

void Metrics::DescribeHistogram(std::string_view name, std::string_view help,
                                std::vector<double> upper_bounds) {
  absl::MutexLock lock(&mu_);
  Family& family = FamilyFor(name, Kind::kHistogram);
  family.help = std::string(help);
  family.bounds = std::move(upper_bounds);
}

void Metrics::Add(std::string_view name, const MetricLabels& labels, double amount) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, Kind::kCounter).values[labels] += amount;
}

void Metrics::Set(std::string_view name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, Kind::kGauge).values[labels] = value;
}

void Metrics::Observe(std::string_view name, const MetricLabels& labels, double value) {
  absl::MutexLock lock(&mu_);
  Family& family = FamilyFor(name, Kind::kHistogram);
  Histogram& h = family.histograms[labels];
  if (h.bucket_counts.size() != family.bounds.size()) h.bucket_counts.resize(family.bounds.size());
  for (size_t i = 0; i < family.bounds.size(); ++i) {
    if (value <= family.bounds[i]) {
      ++h.bucket_counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += value;
}

double Metrics::Value(std::string_view name, const MetricLabels& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto v = it->second.values.find(labels);
  return v == it->second.values.end() ? 0 : v->second;
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.kind == Kind::kCounter ? "counter"
                       : family.kind == Kind::kGauge ? "gauge"
                                                     : "histogram";
    if (!family.help.empty()) absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", type, "\n");
    for (const auto& [labels, value] : family.values) {
      out += name;
      AppendLabels(out, labels);
      absl::StrAppend(&out, " ", FormatNumber(value), "\n");
    }
    for (const auto& [labels, h] : family.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < family.bounds.size(); ++i) {
        cumulative += i < h.bucket_counts.size() ? h.bucket_counts[i] : 0;
        std::pair<std::string, std::string> le{"le", FormatNumber(family.bounds[i])};
        absl::StrAppend(&out, name, "_bucket");
        AppendLabels(out, labels, &le);
        absl::StrAppend(&out, " ", cumulative, "\n");
      }
      std::pair<std::string, std::string> inf{"le", "+Inf"};
      absl::StrAppend(&out, name, "_bucket");
      AppendLabels(out, labels, &inf);
      absl::StrAppend(&out, " ", h.count, "\n", name, "_sum");
      AppendLabels(out, labels);
      absl::StrAppend(&out, " ", FormatNumber(h.sum), "\n", name, "_count");
      AppendLabels(out, labels);
      absl::StrAppend(&out, " ", h.count, "\n");
    }
  }
  return out;
}

}  // namespace nexus::core
