#include "report.h"

#include "scram_client.h"

#include <algorithm>
#include <string>

namespace corvid::bench {
namespace {

// A run is suspect when the server or the bench spent more than this fraction of the phase
// runnable but without a CPU (other load on the machine, or the two competing for one core).
constexpr double kMaxRunQueueWait = 0.05;

double waitFraction(const std::optional<double>& wait, double wall) {
    return wait && wall > 0 ? *wait / wall : 0;
}

double ms(uint64_t micros) {
    return static_cast<double>(micros) / 1000.0;
}

double perSecond(double count, double seconds) {
    return seconds > 0 ? count / seconds : 0;
}

uint64_t totalFailures(const LoopStats& s) {
    uint64_t n = 0;
    for (uint64_t f : s.failures) {
        n += f;
    }
    return n;
}

std::optional<double> rssPerConnectionKib(const RunReport& r) {
    if (!r.rssBeforeKib || !r.rssAfterLoginKib || r.stats.established == 0) {
        return std::nullopt;
    }
    return (static_cast<double>(*r.rssAfterLoginKib) - static_cast<double>(*r.rssBeforeKib)) /
           static_cast<double>(r.stats.established);
}

std::string jsonString(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

template <typename T>
std::string jsonOptional(const std::optional<T>& v) {
    return v ? std::to_string(*v) : std::string("null");
}

}  // namespace

void printTextReport(const RunReport& r, FILE* out) {
    const BenchOptions& o = *r.options;
    const LoopStats& s = r.stats;
    std::fprintf(out, "\n==== corvid-bench result%s%s ====\n", o.label.empty() ? "" : ": ",
                 o.label.c_str());
    std::fprintf(out, "target            %s:%d  domain %s  %s  %s\n", o.host.c_str(), o.port,
                 o.domain.c_str(), o.tls == TlsMode::StartTls ? "STARTTLS" : "direct TLS",
                 std::string(ScramClient::mechanismName(o.mech)).c_str());
    std::fprintf(out,
                 "load              %d connections, rate %s, window %d, body %d B, %d loop(s)\n",
                 o.connections,
                 o.rate > 0 ? (std::to_string(static_cast<long long>(o.rate)) + " msg/s").c_str()
                            : "0 (saturation)",
                 o.effectiveWindow(), o.bodySize, o.threads);
    std::fprintf(out, "logins            %llu ok, %llu failed, %.2f s wall -> %.1f logins/s\n",
                 static_cast<unsigned long long>(s.established),
                 static_cast<unsigned long long>(totalFailures(s) - s.failuresAfterLogin),
                 r.loginWallSeconds,
                 perSecond(static_cast<double>(s.established), r.loginWallSeconds));
    std::fprintf(out,
                 "login time        p50 %.1f ms  p99 %.1f ms  max %.1f ms  (login rate cap %g/s)\n",
                 ms(s.loginMicros.percentile(0.50)), ms(s.loginMicros.percentile(0.99)),
                 ms(s.loginMicros.max()), o.loginRate);
    std::fprintf(out, "messages          %.2f s window: %llu sent, %llu delivered -> %.1f msg/s\n",
                 r.messageWallSeconds, static_cast<unsigned long long>(s.sentInWindow),
                 static_cast<unsigned long long>(s.deliveredInWindow),
                 perSecond(static_cast<double>(s.deliveredInWindow), r.messageWallSeconds));
    std::fprintf(out, "latency           p50 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n",
                 ms(s.messageMicros.percentile(0.50)), ms(s.messageMicros.percentile(0.99)),
                 ms(s.messageMicros.max()), s.messageMicros.mean() / 1000.0);
    std::fprintf(out,
                 "lost / errors     %llu not delivered after %.0f s drain, %llu error replies, "
                 "%llu throttled sends\n",
                 static_cast<unsigned long long>(s.sentInWindow - s.receivedOfWindow),
                 o.drainSeconds, static_cast<unsigned long long>(s.messageErrors),
                 static_cast<unsigned long long>(s.throttled));
    std::fprintf(out, "failures          %llu total (%llu after login)",
                 static_cast<unsigned long long>(totalFailures(s)),
                 static_cast<unsigned long long>(s.failuresAfterLogin));
    for (int i = 0; i < kFailKinds; ++i) {
        if (s.failures[i] != 0) {
            std::fprintf(out, "\n  %-15s %llu  e.g. %s", failKindName(static_cast<FailKind>(i)),
                         static_cast<unsigned long long>(s.failures[i]),
                         s.failureSample[i].c_str());
        }
    }
    std::fprintf(out, "\n");
    if (o.serverPid != 0) {
        auto kib = [](const std::optional<uint64_t>& v) {
            return v ? std::to_string(*v) + " KiB" : std::string("n/a");
        };
        auto perConn = rssPerConnectionKib(r);
        std::fprintf(out, "server RSS        before %s, after logins %s, after messages %s\n",
                     kib(r.rssBeforeKib).c_str(), kib(r.rssAfterLoginKib).c_str(),
                     kib(r.rssAfterMessagesKib).c_str());
        std::fprintf(out, "RSS/connection    %s\n",
                     perConn ? (std::to_string(*perConn) + " KiB").c_str() : "n/a");
        auto pct = [](const std::optional<double>& cpu, double wall) {
            return cpu && wall > 0 ? std::to_string(100.0 * *cpu / wall) + " %"
                                   : std::string("n/a");
        };
        std::fprintf(out, "server CPU        logins %s, messages %s (of one core)\n",
                     pct(r.serverCpuLoginSeconds, r.loginWallSeconds).c_str(),
                     pct(r.serverCpuMessageSeconds, r.messageWallSeconds).c_str());
    }
    std::fprintf(
        out,
        "bench CPU         logins %.1f %%, messages %.1f %% (of one core, %d loop(s)); "
        "PBKDF2 %llu runs %.2f s, %llu cached\n",
        100.0 * r.benchCpuLoginSeconds / (r.loginWallSeconds > 0 ? r.loginWallSeconds : 1),
        100.0 * r.benchCpuMessageSeconds / (r.messageWallSeconds > 0 ? r.messageWallSeconds : 1),
        o.threads, static_cast<unsigned long long>(s.pbkdf2Runs), s.pbkdf2Seconds,
        static_cast<unsigned long long>(s.pbkdf2CacheHits));
    auto others = [&r](const std::optional<double>& machine, const std::optional<double>& server,
                       double bench, double wall) -> std::optional<double> {
        if (!machine || wall <= 0) {
            return std::nullopt;
        }
        return (*machine - server.value_or(0) - bench) / wall;
    };
    auto otherLogin = others(r.machineCpuLoginSeconds, r.serverCpuLoginSeconds,
                             r.benchCpuLoginSeconds, r.loginWallSeconds);
    auto otherMessage = others(r.machineCpuMessageSeconds, r.serverCpuMessageSeconds,
                               r.benchCpuMessageSeconds, r.messageWallSeconds);
    if (otherLogin && otherMessage) {
        std::fprintf(out, "other processes   logins %.2f cores, messages %.2f cores (of %d)\n",
                     *otherLogin, *otherMessage, r.cores);
    }
    double serverWait = std::max(waitFraction(r.serverWaitLoginSeconds, r.loginWallSeconds),
                                 waitFraction(r.serverWaitMessageSeconds, r.messageWallSeconds));
    double benchWait = std::max(waitFraction(r.benchWaitLoginSeconds, r.loginWallSeconds),
                                waitFraction(r.benchWaitMessageSeconds, r.messageWallSeconds));
    std::fprintf(out,
                 "CPU wait          server %.1f %%, bench %.1f %% of the time runnable but not "
                 "running\n",
                 100 * serverWait, 100 * benchWait);
    if (serverWait > kMaxRunQueueWait || benchWait > kMaxRunQueueWait) {
        std::fprintf(out,
                     "WARNING           the server or the bench waited for a CPU: other load on "
                     "the machine distorts these figures\n");
    }
    std::fprintf(out, "====\n");
}

void printJsonReport(const RunReport& r, FILE* out) {
    const BenchOptions& o = *r.options;
    const LoopStats& s = r.stats;
    auto cpuPct = [](const std::optional<double>& cpu, double wall) -> std::string {
        return cpu && wall > 0 ? std::to_string(100.0 * *cpu / wall) : std::string("null");
    };
    std::string failures = "{";
    for (int i = 0; i < kFailKinds; ++i) {
        if (i > 0) {
            failures += ", ";
        }
        failures += jsonString(failKindName(static_cast<FailKind>(i))) + ": " +
                    std::to_string(s.failures[i]);
    }
    failures += "}";
    std::fprintf(out, "{\n");
    std::fprintf(out, "  \"label\": %s,\n", jsonString(o.label).c_str());
    std::fprintf(out, "  \"host\": %s, \"port\": %d, \"domain\": %s,\n", jsonString(o.host).c_str(),
                 o.port, jsonString(o.domain).c_str());
    std::fprintf(out, "  \"tls\": %s, \"mech\": %s,\n",
                 jsonString(o.tls == TlsMode::StartTls ? "starttls" : "direct").c_str(),
                 jsonString(std::string(ScramClient::mechanismName(o.mech))).c_str());
    std::fprintf(out,
                 "  \"connections\": %d, \"rate\": %g, \"window\": %d, \"body_size\": %d, "
                 "\"threads\": %d, \"login_rate\": %g,\n",
                 o.connections, o.rate, o.effectiveWindow(), o.bodySize, o.threads, o.loginRate);
    std::fprintf(out,
                 "  \"established\": %llu, \"failures\": %llu, \"failures_after_login\": %llu,\n",
                 static_cast<unsigned long long>(s.established),
                 static_cast<unsigned long long>(totalFailures(s)),
                 static_cast<unsigned long long>(s.failuresAfterLogin));
    std::fprintf(out, "  \"failures_by_kind\": %s,\n", failures.c_str());
    std::fprintf(out,
                 "  \"login_wall_s\": %.3f, \"logins_per_s\": %.1f, \"login_p50_ms\": %.2f, "
                 "\"login_p99_ms\": %.2f, \"login_max_ms\": %.2f,\n",
                 r.loginWallSeconds,
                 perSecond(static_cast<double>(s.established), r.loginWallSeconds),
                 ms(s.loginMicros.percentile(0.50)), ms(s.loginMicros.percentile(0.99)),
                 ms(s.loginMicros.max()));
    std::fprintf(out,
                 "  \"message_wall_s\": %.3f, \"sent\": %llu, \"delivered\": %llu, "
                 "\"delivered_per_s\": %.1f, \"lost\": %llu, \"message_errors\": %llu, "
                 "\"throttled\": %llu,\n",
                 r.messageWallSeconds, static_cast<unsigned long long>(s.sentInWindow),
                 static_cast<unsigned long long>(s.deliveredInWindow),
                 perSecond(static_cast<double>(s.deliveredInWindow), r.messageWallSeconds),
                 static_cast<unsigned long long>(s.sentInWindow - s.receivedOfWindow),
                 static_cast<unsigned long long>(s.messageErrors),
                 static_cast<unsigned long long>(s.throttled));
    std::fprintf(out,
                 "  \"latency_p50_ms\": %.3f, \"latency_p99_ms\": %.3f, \"latency_max_ms\": %.3f, "
                 "\"latency_mean_ms\": %.3f,\n",
                 ms(s.messageMicros.percentile(0.50)), ms(s.messageMicros.percentile(0.99)),
                 ms(s.messageMicros.max()), s.messageMicros.mean() / 1000.0);
    auto perConn = rssPerConnectionKib(r);
    std::fprintf(out,
                 "  \"server_pid\": %d, \"rss_before_kib\": %s, \"rss_after_login_kib\": %s, "
                 "\"rss_after_messages_kib\": %s, \"rss_per_connection_kib\": %s,\n",
                 o.serverPid, jsonOptional(r.rssBeforeKib).c_str(),
                 jsonOptional(r.rssAfterLoginKib).c_str(),
                 jsonOptional(r.rssAfterMessagesKib).c_str(), jsonOptional(perConn).c_str());
    std::fprintf(out, "  \"server_cpu_login_pct\": %s, \"server_cpu_message_pct\": %s,\n",
                 cpuPct(r.serverCpuLoginSeconds, r.loginWallSeconds).c_str(),
                 cpuPct(r.serverCpuMessageSeconds, r.messageWallSeconds).c_str());
    std::fprintf(out, "  \"bench_cpu_login_pct\": %s, \"bench_cpu_message_pct\": %s,\n",
                 cpuPct(r.benchCpuLoginSeconds, r.loginWallSeconds).c_str(),
                 cpuPct(r.benchCpuMessageSeconds, r.messageWallSeconds).c_str());
    auto others = [](const std::optional<double>& machine, const std::optional<double>& server,
                     double bench, double wall) -> std::string {
        if (!machine || wall <= 0) {
            return "null";
        }
        return std::to_string((*machine - server.value_or(0) - bench) / wall);
    };
    std::fprintf(out, "  \"other_cores_login\": %s, \"other_cores_message\": %s, \"cores\": %d,\n",
                 others(r.machineCpuLoginSeconds, r.serverCpuLoginSeconds, r.benchCpuLoginSeconds,
                        r.loginWallSeconds)
                     .c_str(),
                 others(r.machineCpuMessageSeconds, r.serverCpuMessageSeconds,
                        r.benchCpuMessageSeconds, r.messageWallSeconds)
                     .c_str(),
                 r.cores);
    std::fprintf(out, "  \"server_wait_pct\": %.2f, \"bench_wait_pct\": %.2f,\n",
                 100 * std::max(waitFraction(r.serverWaitLoginSeconds, r.loginWallSeconds),
                                waitFraction(r.serverWaitMessageSeconds, r.messageWallSeconds)),
                 100 * std::max(waitFraction(r.benchWaitLoginSeconds, r.loginWallSeconds),
                                waitFraction(r.benchWaitMessageSeconds, r.messageWallSeconds)));
    std::fprintf(out, "  \"pbkdf2_runs\": %llu, \"pbkdf2_s\": %.3f, \"pbkdf2_cache_hits\": %llu\n",
                 static_cast<unsigned long long>(s.pbkdf2Runs), s.pbkdf2Seconds,
                 static_cast<unsigned long long>(s.pbkdf2CacheHits));
    std::fprintf(out, "}\n");
}

}  // namespace corvid::bench
