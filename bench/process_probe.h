#pragma once

#include <cstdint>
#include <optional>

namespace corvid::bench {

/// Resident set size (VmRSS) of a process in KiB, from /proc/PID/status; nullopt if unreadable.
std::optional<uint64_t> readRssKib(int pid);

/// User + system CPU time of a process (all its threads) in seconds, from /proc/PID/stat.
std::optional<double> readCpuSeconds(int pid);

/// Time the process's threads spent runnable but waiting for a CPU, in seconds, summed over its
/// threads (/proc/PID/task/*/schedstat). A benchmark is only valid while this stays small: it is
/// the direct measure of other load on the machine getting in the way.
std::optional<double> readRunQueueWaitSeconds(int pid);

/// CPU time of the whole machine from /proc/stat: seconds busy (all but idle and iowait) summed
/// over cores, and the number of cores. Lets the report tell how much CPU other processes took.
struct MachineCpu {
    double busySeconds = 0;
    int cores = 0;
};
std::optional<MachineCpu> readMachineCpu();

/// User + system CPU time of this process, all threads (getrusage).
double selfCpuSeconds();

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
uint64_t raiseFileLimit();

}  // namespace corvid::bench
