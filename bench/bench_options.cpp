#include "bench_options.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>

namespace corvid::bench {
namespace {

std::expected<double, std::string> toDouble(std::string_view name, const std::string& v) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || d < 0) {
        return std::unexpected(std::string(name) + ": expected a non-negative number, got '" + v +
                               "'");
    }
    return d;
}

std::expected<int, std::string> toInt(std::string_view name, const std::string& v, int min,
                                      int max) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size() || n < min || n > max) {
        return std::unexpected(std::string(name) + ": expected an integer in [" +
                               std::to_string(min) + ", " + std::to_string(max) + "], got '" + v +
                               "'");
    }
    return n;
}

std::vector<std::string> splitCommas(const std::string& v) {
    std::vector<std::string> out;
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

}  // namespace

std::string usageText() {
    return R"(corvid-bench: XMPP c2s load generator (login storm + paired messaging)

  --host ADDR             server IPv4/IPv6 literal (default 127.0.0.1)
  --port N                c2s port (default 5222)
  --domain NAME           XMPP domain (default localhost)
  --accounts FILE         'user password' per line; connection i logs in as line i
  --connections N         connections; 2k and 2k+1 message each other (default 100)
  --rate R                total messages/s; 0 = saturation, closed loop (default 0)
  --duration S            length of the message phase in seconds (default 10)
  --window W              in-flight messages per connection (default 1 at rate 0, 100 otherwise)
  --body-size B           message body bytes (default 64)
  --login-rate R          connections opened per second, total; 0 = unpaced (default 500)
  --login-concurrency N   logins in progress at once, total (default 200)
  --login-timeout S       give up on logins still pending after S seconds (default 120)
  --settle S              pause after the last login before RSS / messages (default 1)
  --drain S               wait for in-flight messages after the phase (default 5)
  --source-ips A,B,...    bind connections round-robin to these local addresses
  --tls starttls|direct   STARTTLS on the c2s port, or TLS from the first byte (default starttls)
  --mech M                SCRAM-SHA-1 (default) or SCRAM-SHA-256
  --resource R            resource to bind (default bench)
  --threads N             event loops (default 1); pairs are split across them
  --server-pid PID        read the server's VmRSS and CPU time from /proc/PID
  --label TEXT            free text copied into the report
  --scram-cache FILE      keep SCRAM SaltedPasswords in FILE between runs (client-side PBKDF2)
  --json FILE             also write the results as JSON to FILE ('-' = stdout, text goes to stderr)
  --quiet                 no progress lines
  --self-test             check the SCRAM client against RFC 5802 / RFC 7677 vectors and exit
)";
}

std::expected<BenchOptions, std::string> parseOptions(int argc, char** argv) {
    BenchOptions o;
    using Setter = std::function<std::expected<void, std::string>(const std::string&)>;
    auto setInt = [](int& field, std::string_view name, int min, int max) -> Setter {
        return [&field, name, min, max](const std::string& v) -> std::expected<void, std::string> {
            auto n = toInt(name, v, min, max);
            if (!n) {
                return std::unexpected(n.error());
            }
            field = *n;
            return {};
        };
    };
    auto setDouble = [](double& field, std::string_view name) -> Setter {
        return [&field, name](const std::string& v) -> std::expected<void, std::string> {
            auto d = toDouble(name, v);
            if (!d) {
                return std::unexpected(d.error());
            }
            field = *d;
            return {};
        };
    };
    auto setString = [](std::string& field) -> Setter {
        return [&field](const std::string& v) -> std::expected<void, std::string> {
            field = v;
            return {};
        };
    };
    int port = o.port;
    std::map<std::string, Setter, std::less<>> valued = {
        {"--host", setString(o.host)},
        {"--port", setInt(port, "--port", 1, 65535)},
        {"--domain", setString(o.domain)},
        {"--accounts", setString(o.accountsFile)},
        {"--resource", setString(o.resource)},
        {"--label", setString(o.label)},
        {"--connections", setInt(o.connections, "--connections", 1, 1000000)},
        {"--rate", setDouble(o.rate, "--rate")},
        {"--duration", setDouble(o.durationSeconds, "--duration")},
        {"--login-rate", setDouble(o.loginRate, "--login-rate")},
        {"--login-concurrency", setInt(o.loginConcurrency, "--login-concurrency", 1, 1000000)},
        {"--login-timeout", setDouble(o.loginTimeoutSeconds, "--login-timeout")},
        {"--settle", setDouble(o.settleSeconds, "--settle")},
        {"--drain", setDouble(o.drainSeconds, "--drain")},
        {"--window", setInt(o.window, "--window", 0, 1000000)},
        {"--body-size", setInt(o.bodySize, "--body-size", 0, 1 << 20)},
        {"--threads", setInt(o.threads, "--threads", 1, 64)},
        {"--server-pid", setInt(o.serverPid, "--server-pid", 0, 1 << 30)},
        {"--json", setString(o.jsonFile)},
        {"--scram-cache", setString(o.scramCacheFile)},
        {"--source-ips",
         [&o](const std::string& v) -> std::expected<void, std::string> {
             o.sourceIps = splitCommas(v);
             return {};
         }},
        {"--tls",
         [&o](const std::string& v) -> std::expected<void, std::string> {
             if (v == "starttls") {
                 o.tls = TlsMode::StartTls;
             } else if (v == "direct") {
                 o.tls = TlsMode::Direct;
             } else {
                 return std::unexpected("--tls: expected starttls or direct, got '" + v + "'");
             }
             return {};
         }},
        {"--mech",
         [&o](const std::string& v) -> std::expected<void, std::string> {
             if (v == "SCRAM-SHA-1") {
                 o.mech = ScramHash::Sha1;
             } else if (v == "SCRAM-SHA-256") {
                 o.mech = ScramHash::Sha256;
             } else {
                 return std::unexpected("--mech: expected SCRAM-SHA-1 or SCRAM-SHA-256, got '" + v +
                                        "'");
             }
             return {};
         }},
    };

    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            return std::unexpected(usageText());
        }
        if (arg == "--quiet") {
            o.quiet = true;
            continue;
        }
        if (arg == "--self-test") {
            o.selfTest = true;
            continue;
        }
        std::string value;
        bool haveValue = false;
        if (auto eq = arg.find('='); eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg.resize(eq);
            haveValue = true;
        }
        auto it = valued.find(arg);
        if (it == valued.end()) {
            return std::unexpected("unknown option '" + arg + "' (see --help)");
        }
        if (!haveValue) {
            if (i + 1 >= argc) {
                return std::unexpected(arg + ": missing value");
            }
            value = argv[++i];
        }
        if (auto r = it->second(value); !r) {
            return std::unexpected(r.error());
        }
    }
    o.port = static_cast<uint16_t>(port);
    if (!o.selfTest && o.accountsFile.empty()) {
        return std::unexpected(std::string("--accounts FILE is required (see --help)"));
    }
    return o;
}

std::expected<std::vector<Account>, std::string> loadAccounts(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::unexpected("cannot open accounts file '" + path + "'");
    }
    std::vector<Account> accounts;
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream fields(line);
        Account a;
        if (!(fields >> a.user >> a.password)) {
            return std::unexpected(path + ":" + std::to_string(lineNo) +
                                   ": expected 'user password'");
        }
        accounts.push_back(std::move(a));
    }
    return accounts;
}

}  // namespace corvid::bench
