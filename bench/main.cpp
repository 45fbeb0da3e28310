// corvid-bench: see usageText() in bench_options.cpp and docs/benchmarks.md.

#include "bench_options.h"
#include "load_loop.h"
#include "process_probe.h"
#include "report.h"
#include "scram_client.h"

#include <event2/thread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace corvid::bench {
namespace {

std::optional<double> difference(const std::optional<double>& after,
                                 const std::optional<double>& before) {
    if (!after || !before) {
        return std::nullopt;
    }
    return *after - *before;
}

std::string toHex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += kDigits[c >> 4];
        out += kDigits[c & 15];
    }
    return out;
}

std::string fromHex(std::string_view hex) {
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    }
    return out;
}

/// The main thread: starts the loops, waits for them phase by phase, takes the server's RSS and
/// CPU readings between phases, and prints progress once a second.
class Coordinator final : public LoopObserver {
  public:
    Coordinator(const BenchOptions& options, const std::vector<Account>& accounts)
        : options_(options) {
        // Pair k goes to loop k % threads, so both ends of a pair share a loop.
        std::vector<std::vector<int>> indexes(static_cast<size_t>(options.threads));
        for (int i = 0; i < options.connections; ++i) {
            indexes[static_cast<size_t>((i / 2) % options.threads)].push_back(i);
        }
        for (const auto& idx : indexes) {
            loops_.push_back(
                std::make_unique<LoadLoop>(options, accounts, idx, options.threads, *this));
        }
    }

    /// Seeds every loop's SCRAM cache from FILE (hex key, hex value per line), if it exists.
    void loadScramCache(const std::string& path) {
        std::ifstream in(path);
        std::unordered_map<std::string, std::string> entries;
        std::string key;
        std::string value;
        while (in >> key >> value) {
            entries.emplace(fromHex(key), fromHex(value));
        }
        for (auto& loop : loops_) {
            loop->scramCache().preload(entries);
        }
    }

    /// Writes the union of the loops' SCRAM caches to FILE. Only after run().
    void saveScramCache(const std::string& path) {
        std::unordered_map<std::string, std::string> all;
        for (auto& loop : loops_) {
            const auto& entries = loop->scramCache().entries();
            all.insert(entries.begin(), entries.end());
        }
        std::ofstream out(path + ".tmp");
        for (const auto& [k, v] : all) {
            out << toHex(k) << ' ' << toHex(v) << '\n';
        }
        out.close();
        std::rename((path + ".tmp").c_str(), path.c_str());
    }

    void onLoopPhaseChanged() override {
        std::lock_guard lock(mutex_);
        changed_.notify_all();
    }

    int run(RunReport& report) {
        FILE* progress = options_.quiet ? nullptr : stderr;
        int pid = options_.serverPid;
        if (pid != 0) {
            report.rssBeforeKib = readRssKib(pid);
            if (!report.rssBeforeKib) {
                std::fprintf(stderr, "warning: cannot read /proc/%d/status\n", pid);
            }
        }
        auto serverCpu0 = pid != 0 ? readCpuSeconds(pid) : std::nullopt;
        double benchCpu0 = selfCpuSeconds();
        auto machine0 = readMachineCpu();
        int self = getpid();
        auto serverWait0 = pid != 0 ? readRunQueueWaitSeconds(pid) : std::nullopt;
        auto benchWait0 = readRunQueueWaitSeconds(self);
        uint64_t t0 = nowNs();

        for (auto& loop : loops_) {
            threads_.emplace_back([&loop] { loop->run(); });
        }
        waitFor(LoadLoop::Phase::Ready, progress, "login");

        uint64_t loginEnd = nowNs();
        report.loginWallSeconds = static_cast<double>(loginEnd - t0) / 1e9;
        report.benchCpuLoginSeconds = selfCpuSeconds() - benchCpu0;
        auto serverCpu1 = pid != 0 ? readCpuSeconds(pid) : std::nullopt;
        if (serverCpu0 && serverCpu1) {
            report.serverCpuLoginSeconds = *serverCpu1 - *serverCpu0;
        }
        report.serverWaitLoginSeconds =
            difference(pid != 0 ? readRunQueueWaitSeconds(pid) : std::nullopt, serverWait0);
        report.benchWaitLoginSeconds = difference(readRunQueueWaitSeconds(self), benchWait0);
        auto machine1 = readMachineCpu();
        if (machine0 && machine1) {
            report.machineCpuLoginSeconds = machine1->busySeconds - machine0->busySeconds;
            report.cores = machine1->cores;
        }

        std::this_thread::sleep_for(std::chrono::duration<double>(options_.settleSeconds));
        if (pid != 0) {
            report.rssAfterLoginKib = readRssKib(pid);
        }

        if (options_.durationSeconds > 0) {
            auto serverCpu2 = pid != 0 ? readCpuSeconds(pid) : std::nullopt;
            double benchCpu2 = selfCpuSeconds();
            auto machine2 = readMachineCpu();
            auto serverWait2 = pid != 0 ? readRunQueueWaitSeconds(pid) : std::nullopt;
            auto benchWait2 = readRunQueueWaitSeconds(self);
            uint64_t start = nowNs() + 10'000'000;  // let every loop see the same start
            auto durationNs = static_cast<uint64_t>(options_.durationSeconds * 1e9);
            for (auto& loop : loops_) {
                loop->startMessaging(start, start + durationNs);
            }
            waitFor(LoadLoop::Phase::Draining, progress, "messages");
            report.messageWallSeconds = options_.durationSeconds;
            report.benchCpuMessageSeconds = selfCpuSeconds() - benchCpu2;
            auto serverCpu3 = pid != 0 ? readCpuSeconds(pid) : std::nullopt;
            if (serverCpu2 && serverCpu3) {
                report.serverCpuMessageSeconds = *serverCpu3 - *serverCpu2;
            }
            report.serverWaitMessageSeconds =
                difference(pid != 0 ? readRunQueueWaitSeconds(pid) : std::nullopt, serverWait2);
            report.benchWaitMessageSeconds = difference(readRunQueueWaitSeconds(self), benchWait2);
            auto machine3 = readMachineCpu();
            if (machine2 && machine3) {
                report.machineCpuMessageSeconds = machine3->busySeconds - machine2->busySeconds;
            }
            waitFor(LoadLoop::Phase::Done, progress, "drain");
            if (pid != 0) {
                report.rssAfterMessagesKib = readRssKib(pid);
            }
        }

        for (auto& loop : loops_) {
            loop->stop();
        }
        for (auto& t : threads_) {
            t.join();
        }
        for (auto& loop : loops_) {
            report.stats.merge(loop->stats());
        }
        return 0;
    }

  private:
    /// Waits until every loop has reached `phase` (or a later one), printing progress.
    void waitFor(LoadLoop::Phase phase, FILE* progress, const char* what) {
        uint64_t lastReceived = totalReceived();
        auto lastPrint = std::chrono::steady_clock::now();
        std::unique_lock lock(mutex_);
        while (!allAtLeast(phase)) {
            changed_.wait_for(lock, std::chrono::milliseconds(100));
            auto now = std::chrono::steady_clock::now();
            if (progress != nullptr && now - lastPrint >= std::chrono::seconds(1)) {
                uint64_t received = totalReceived();
                double secs = std::chrono::duration<double>(now - lastPrint).count();
                std::fprintf(progress, "[%s] established %llu  failed %llu  received %.0f msg/s\n",
                             what, static_cast<unsigned long long>(totalEstablished()),
                             static_cast<unsigned long long>(totalFailed()),
                             static_cast<double>(received - lastReceived) / secs);
                lastReceived = received;
                lastPrint = now;
            }
        }
    }

    bool allAtLeast(LoadLoop::Phase phase) const {
        for (const auto& loop : loops_) {
            if (loop->phase() < phase) {
                return false;
            }
        }
        return true;
    }
    uint64_t totalEstablished() const {
        uint64_t n = 0;
        for (const auto& l : loops_) {
            n += l->establishedNow();
        }
        return n;
    }
    uint64_t totalFailed() const {
        uint64_t n = 0;
        for (const auto& l : loops_) {
            n += l->failedNow();
        }
        return n;
    }
    uint64_t totalReceived() const {
        uint64_t n = 0;
        for (const auto& l : loops_) {
            n += l->receivedNow();
        }
        return n;
    }

    const BenchOptions& options_;
    std::vector<std::unique_ptr<LoadLoop>> loops_;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable changed_;
};

int benchMain(int argc, char** argv) {
    auto options = parseOptions(argc, argv);
    if (!options) {
        bool help = options.error() == usageText();
        std::fprintf(help ? stdout : stderr, "%s\n", options.error().c_str());
        return help ? 0 : 2;
    }
    if (options->selfTest) {
        auto ok = scramSelfTest();
        std::printf("SCRAM self-test: %s\n", ok ? "ok" : ok.error().c_str());
        return ok ? 0 : 1;
    }
    auto accounts = loadAccounts(options->accountsFile);
    if (!accounts) {
        std::fprintf(stderr, "%s\n", accounts.error().c_str());
        return 2;
    }
    if (static_cast<int>(accounts->size()) < options->connections) {
        std::fprintf(stderr, "%zu accounts in %s, need one per connection (%d)\n", accounts->size(),
                     options->accountsFile.c_str(), options->connections);
        return 2;
    }
    sockaddr_storage probe{};
    if (!parseAddress(options->host, options->port, probe)) {
        std::fprintf(stderr, "--host must be an IP literal, got '%s'\n", options->host.c_str());
        return 2;
    }
    for (const auto& ip : options->sourceIps) {
        if (!parseAddress(ip, 0, probe)) {
            std::fprintf(stderr, "--source-ips: '%s' is not an IP literal\n", ip.c_str());
            return 2;
        }
    }
    RunReport report;
    report.options = &*options;
    report.fileLimit = raiseFileLimit();
    // Each connection needs a socket; leave some room for everything else.
    if (report.fileLimit < static_cast<uint64_t>(options->connections) + 64) {
        std::fprintf(stderr, "open-files limit %llu is too low for %d connections (ulimit -n)\n",
                     static_cast<unsigned long long>(report.fileLimit), options->connections);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();

    Coordinator coordinator(*options, *accounts);
    if (!options->scramCacheFile.empty()) {
        coordinator.loadScramCache(options->scramCacheFile);
    }
    coordinator.run(report);
    if (!options->scramCacheFile.empty()) {
        coordinator.saveScramCache(options->scramCacheFile);
    }

    bool jsonToStdout = options->jsonFile == "-";
    printTextReport(report, jsonToStdout ? stderr : stdout);
    if (!options->jsonFile.empty()) {
        FILE* out = jsonToStdout ? stdout : std::fopen(options->jsonFile.c_str(), "w");
        if (out == nullptr) {
            std::fprintf(stderr, "cannot write %s\n", options->jsonFile.c_str());
            return 1;
        }
        printJsonReport(report, out);
        if (!jsonToStdout) {
            std::fclose(out);
        }
    }
    return 0;
}

}  // namespace
}  // namespace corvid::bench

int main(int argc, char** argv) {
    return corvid::bench::benchMain(argc, argv);
}
