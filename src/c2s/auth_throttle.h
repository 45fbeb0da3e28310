#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace corvid::c2s {

/// Counts failed authentications per client IP and per account within a sliding window; once a
/// key reaches its limit, further attempts are refused until old failures age out.
class AuthThrottle {
  public:
    using Clock = std::chrono::steady_clock;

    AuthThrottle(int maxPerIp, int maxPerAccount, std::chrono::seconds window)
        : maxPerIp_(maxPerIp), maxPerAccount_(maxPerAccount), window_(window) {}

    bool ipBlocked(std::string_view ip, Clock::time_point now = Clock::now());
    bool accountBlocked(std::string_view account, Clock::time_point now = Clock::now());
    void recordFailure(std::string_view ip, std::string_view account,
                       Clock::time_point now = Clock::now());

  private:
    using Log = std::unordered_map<std::string, std::deque<Clock::time_point>>;
    bool blocked(Log& log, std::string_view key, int max, Clock::time_point now);
    void prune(Log& log, Clock::time_point now);

    int maxPerIp_;
    int maxPerAccount_;
    std::chrono::seconds window_;
    Log byIp_;
    Log byAccount_;
    Clock::time_point lastPrune_{};
};

}  // namespace corvid::c2s
