#include "process_probe.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace corvid::bench {

std::optional<uint64_t> readRssKib(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream fields(line.substr(6));
            uint64_t kib = 0;
            if (fields >> kib) {
                return kib;
            }
        }
    }
    return std::nullopt;
}

std::optional<double> readCpuSeconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all;
    if (!std::getline(in, all)) {
        return std::nullopt;
    }
    // The command name (field 2) may contain spaces and parentheses: skip to the last ')'.
    auto close = all.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream fields(all.substr(close + 2));
    std::string skip;
    // Fields 3..13 come before utime (14) and stime (15).
    for (int i = 3; i <= 13; ++i) {
        fields >> skip;
    }
    uint64_t utime = 0;
    uint64_t stime = 0;
    if (!(fields >> utime >> stime)) {
        return std::nullopt;
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<double> readRunQueueWaitSeconds(int pid) {
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* tasks = opendir(dir.c_str());
    if (tasks == nullptr) {
        return std::nullopt;
    }
    uint64_t waitNs = 0;
    while (dirent* entry = readdir(tasks)) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        std::ifstream in(dir + "/" + entry->d_name + "/schedstat");
        uint64_t runNs = 0;
        uint64_t queuedNs = 0;
        if (in >> runNs >> queuedNs) {
            waitNs += queuedNs;
        }
    }
    closedir(tasks);
    return static_cast<double>(waitNs) / 1e9;
}

std::optional<MachineCpu> readMachineCpu() {
    std::ifstream in("/proc/stat");
    std::string line;
    MachineCpu out;
    bool haveTotal = false;
    while (std::getline(in, line)) {
        if (line.rfind("cpu ", 0) == 0) {
            std::istringstream fields(line.substr(4));
            uint64_t v = 0;
            uint64_t total = 0;
            uint64_t idle = 0;
            // user nice system idle iowait irq softirq steal (guest time is already in user).
            for (int i = 0; i < 8 && fields >> v; ++i) {
                total += v;
                if (i == 3 || i == 4) {
                    idle += v;
                }
            }
            out.busySeconds =
                static_cast<double>(total - idle) / static_cast<double>(sysconf(_SC_CLK_TCK));
            haveTotal = true;
        } else if (line.rfind("cpu", 0) == 0) {
            ++out.cores;
        }
    }
    if (!haveTotal) {
        return std::nullopt;
    }
    return out;
}

double selfCpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

uint64_t raiseFileLimit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 0;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

}  // namespace corvid::bench
