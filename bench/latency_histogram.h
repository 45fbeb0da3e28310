#pragma once

#include <array>
#include <cstdint>

namespace corvid::bench {

/// Log-linear histogram of durations in microseconds: exact below 128 µs, then 64 buckets per
/// power of two (relative error under 1.6%), up to about 2^40 µs. Constant memory, so every
/// message can be recorded; histograms of several loops are merged at the end.
class LatencyHistogram {
  public:
    void record(uint64_t micros);
    void merge(const LatencyHistogram& other);

    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
    /// The smallest recorded bucket value v such that a fraction q of samples are <= v.
    uint64_t percentile(double q) const;

  private:
    static constexpr int kExactBelow = 128;
    static constexpr int kSubBuckets = 64;
    static constexpr int kBuckets = kExactBelow + 34 * kSubBuckets;

    static int bucketOf(uint64_t micros);
    static uint64_t upperBoundOf(int bucket);

    std::array<uint64_t, kBuckets> buckets_{};
    uint64_t count_ = 0;
    uint64_t sum_ = 0;
    uint64_t max_ = 0;
};

}  // namespace corvid::bench
