#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

namespace corvid::c2s {

/// Failed authentications within a sliding window, and what they cost the next attempt
/// (docs/admin-guide.md, "Failed logins"):
/// - an address with `maxPerIp` failures (any accounts) is refused until they age out;
/// - an (account, address) pair with `maxPerAccount` failures is refused the same way: the
///   exchange runs as for an unknown user, so the guesser learns nothing;
/// - an account with `maxPerAccount` failures from all addresses together is under attack:
///   every authentication for it is slowed down (accountDelay()), but never refused, so that
///   guesses spread over many addresses cannot lock its owner out.
class AuthThrottle {
  public:
    using Clock = std::chrono::steady_clock;
    /// How long an attempt for an account under attack waits before its credentials are looked
    /// up (the right password still succeeds, a guess per connection costs this much).
    static constexpr std::chrono::milliseconds kAttackDelay{2000};

    AuthThrottle(int maxPerIp, int maxPerAccount, std::chrono::seconds window)
        : maxPerIp_(maxPerIp), maxPerAccount_(maxPerAccount), window_(window) {}

    bool ipBlocked(std::string_view ip, Clock::time_point now = Clock::now());
    /// This account may not be tried from this address any more (for a while).
    bool pairBlocked(std::string_view ip, std::string_view account,
                     Clock::time_point now = Clock::now());
    /// How long an attempt for `account` waits first: zero unless it is under attack.
    std::chrono::milliseconds accountDelay(std::string_view account,
                                           Clock::time_point now = Clock::now());
    /// `account` may be empty (an exchange abandoned before a name was known, or abandoned).
    void recordFailure(std::string_view ip, std::string_view account,
                       Clock::time_point now = Clock::now());

  private:
    using Log = std::unordered_map<std::string, std::deque<Clock::time_point>>;
    /// Failures of `key` within the window (forgetting older ones).
    std::size_t recent(Log& log, const std::string& key, Clock::time_point now);
    void prune(Log& log, Clock::time_point now);
    static std::string pairKey(std::string_view ip, std::string_view account);

    int maxPerIp_;
    int maxPerAccount_;
    std::chrono::seconds window_;
    Log byIp_;
    Log byAccount_;
    Log byPair_;
    Clock::time_point lastPrune_{};
};

}  // namespace corvid::c2s
