#pragma once

#include "bench_options.h"
#include "load_loop.h"

#include <cstdint>
#include <cstdio>
#include <optional>

namespace corvid::bench {

/// Everything the final block shows: the loops' merged stats plus what the coordinating thread
/// measured around them (wall times, the server's RSS and CPU, the bench's own CPU).
struct RunReport {
    const BenchOptions* options = nullptr;
    LoopStats stats;
    double loginWallSeconds = 0;
    double messageWallSeconds = 0;
    std::optional<uint64_t> rssBeforeKib;
    std::optional<uint64_t> rssAfterLoginKib;
    std::optional<uint64_t> rssAfterMessagesKib;
    std::optional<double> serverCpuLoginSeconds;
    std::optional<double> serverCpuMessageSeconds;
    double benchCpuLoginSeconds = 0;
    double benchCpuMessageSeconds = 0;
    /// Busy CPU time of the whole machine (all cores) in each phase, to show other load.
    std::optional<double> machineCpuLoginSeconds;
    std::optional<double> machineCpuMessageSeconds;
    int cores = 0;
    /// Run-queue wait of the server's and the bench's threads in the message phase.
    std::optional<double> serverWaitMessageSeconds;
    std::optional<double> benchWaitMessageSeconds;
    std::optional<double> serverWaitLoginSeconds;
    std::optional<double> benchWaitLoginSeconds;
    uint64_t fileLimit = 0;
};

void printTextReport(const RunReport& report, FILE* out);
void printJsonReport(const RunReport& report, FILE* out);

}  // namespace corvid::bench
