#include "core/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nexus::core {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, RendersCountersWithLabelsInPrometheusFormat) {
  Metrics metrics;
  metrics.DescribeCounter("nexus_requests_total", "Requests.");
  metrics.Add("nexus_requests_total", {{"route", "/a"}, {"status", "200"}});
  metrics.Add("nexus_requests_total", {{"route", "/a"}, {"status", "200"}}, 2);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# HELP nexus_requests_total Requests.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE nexus_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("nexus_requests_total{route=\"/a\",status=\"200\"} 3\n"));
  EXPECT_EQ(metrics.Value("nexus_requests_total", {{"route", "/a"}, {"status", "200"}}), 3);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Metrics metrics;
  metrics.DescribeHistogram("latency_seconds", "Latency.", {0.1, 1});
  metrics.Observe("latency_seconds", {}, 0.05);
  metrics.Observe("latency_seconds", {}, 0.5);
  metrics.Observe("latency_seconds", {}, 5);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("latency_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("latency_seconds_sum 5.55\n"));
}

TEST(Metrics, EscapesLabelValues) {
  Metrics metrics;
  metrics.Set("g", {{"k", "a\"b\\c\nd"}}, 1);
  EXPECT_THAT(metrics.Render(), HasSubstr("g{k=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

}  // namespace
}  // namespace nexus::core
