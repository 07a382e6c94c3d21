// File: core/metrics.h
//
// A small in-process metrics registry rendered in the Prometheus text exposition format
// (version 0.0.4). Counters and gauges are keyed by name plus an ordered label list; histograms
// use the bucket bounds given to DescribeHistogram. No I/O here: http/ serves Render() on
// /metrics. All methods are thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace nexus::core {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  void DescribeCounter(std::string_view name, std::string_view help);
  void DescribeGauge(std::string_view name, std::string_view help);
  void DescribeHistogram(std::string_view name, std::string_view help,
                         std::vector<double> upper_bounds);

  void Add(std::string_view name, const MetricLabels& labels, double amount = 1);
  void Set(std::string_view name, const MetricLabels& labels, double value);
  void Observe(std::string_view name, const MetricLabels& labels, double value);

  // The current value of a counter or gauge series (0 when it was never written). For tests.
  double Value(std::string_view name, const MetricLabels& labels) const;

  std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Histogram {
    std::vector<uint64_t> bucket_counts;  // one per bound, non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    Kind kind = Kind::kCounter;
    std::string help;
    std::vector<double> bounds;
    std::map<MetricLabels, double> values;
    std::map<MetricLabels, Histogram> histograms;
  };

  Family& FamilyFor(std::string_view name, Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nexus::core
