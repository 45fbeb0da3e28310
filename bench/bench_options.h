#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

namespace corvid::bench {

enum class TlsMode { StartTls, Direct };
enum class ScramHash { Sha1, Sha256 };

/// Everything the command line can set. Defaults are chosen so that a bare
/// `corvid-bench --accounts FILE` runs a short, polite test against 127.0.0.1:5222.
struct BenchOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 5222;
    std::string domain = "localhost";
    std::string accountsFile;
    std::string resource = "bench";
    std::string label;
    int connections = 100;
    /// Total messages per second over all pairs; 0 = saturation (closed loop with `window`).
    double rate = 0;
    double durationSeconds = 10;
    /// Connections opened per second over all loops; 0 = as fast as loginConcurrency allows.
    double loginRate = 500;
    /// At most this many connections between connect() and bound+presence, over all loops.
    int loginConcurrency = 200;
    double loginTimeoutSeconds = 120;
    /// Pause between the last login and the RSS reading / message phase.
    double settleSeconds = 1;
    /// After the message phase, wait at most this long for messages still in flight.
    double drainSeconds = 5;
    /// Messages a connection may have in flight towards its peer; 0 = mode default.
    int window = 0;
    int bodySize = 64;
    int threads = 1;
    int serverPid = 0;
    std::vector<std::string> sourceIps;
    TlsMode tls = TlsMode::StartTls;
    ScramHash mech = ScramHash::Sha1;
    std::string jsonFile;  // "-" = stdout
    std::string scramCacheFile;
    bool quiet = false;
    bool selfTest = false;

    int effectiveWindow() const { return window > 0 ? window : (rate > 0 ? 100 : 1); }
};

/// Parses argv. Returns the options, or a message for the user (the usage text for --help).
std::expected<BenchOptions, std::string> parseOptions(int argc, char** argv);

std::string usageText();

/// One `user password` pair per line; blank lines and lines starting with '#' are skipped.
struct Account {
    std::string user;
    std::string password;
};
std::expected<std::vector<Account>, std::string> loadAccounts(const std::string& path);

}  // namespace corvid::bench
