#include "latency_histogram.h"

#include <algorithm>
#include <bit>

namespace corvid::bench {

int LatencyHistogram::bucketOf(uint64_t micros) {
    if (micros < kExactBelow) {
        return static_cast<int>(micros);
    }
    // For v >= 128 the top 7 bits select one of 64 sub-buckets of v's power of two.
    int msb = 63 - std::countl_zero(micros);
    int shift = msb - 6;
    int top = static_cast<int>(micros >> shift);  // in [64, 128)
    int bucket = kExactBelow + (shift - 1) * kSubBuckets + (top - kSubBuckets);
    return std::min(bucket, kBuckets - 1);
}

uint64_t LatencyHistogram::upperBoundOf(int bucket) {
    if (bucket < kExactBelow) {
        return static_cast<uint64_t>(bucket);
    }
    int shift = (bucket - kExactBelow) / kSubBuckets + 1;
    uint64_t top = static_cast<uint64_t>((bucket - kExactBelow) % kSubBuckets + kSubBuckets);
    return ((top + 1) << shift) - 1;
}

void LatencyHistogram::record(uint64_t micros) {
    ++buckets_[bucketOf(micros)];
    ++count_;
    sum_ += micros;
    max_ = std::max(max_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (int i = 0; i < kBuckets; ++i) {
        buckets_[i] += other.buckets_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::percentile(double q) const {
    if (count_ == 0) {
        return 0;
    }
    // Rank of the sample that has a fraction q of the samples at or below it (nearest rank).
    auto rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            return std::min(upperBoundOf(i), max_);
        }
    }
    return max_;
}

}  // namespace corvid::bench
