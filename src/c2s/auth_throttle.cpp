#include "c2s/auth_throttle.h"

namespace corvid::c2s {

std::size_t AuthThrottle::recent(Log& log, const std::string& key, Clock::time_point now) {
    auto it = log.find(key);
    if (it == log.end()) {
        return 0;
    }
    auto& times = it->second;
    while (!times.empty() && now - times.front() > window_) {
        times.pop_front();
    }
    if (times.empty()) {
        log.erase(it);
        return 0;
    }
    return times.size();
}

std::string AuthThrottle::pairKey(std::string_view ip, std::string_view account) {
    std::string key(ip);
    key += '/';  // neither an IP literal nor a bare JID's domain has one before the account
    key += account;
    return key;
}

bool AuthThrottle::ipBlocked(std::string_view ip, Clock::time_point now) {
    return maxPerIp_ > 0 &&
           recent(byIp_, std::string(ip), now) >= static_cast<std::size_t>(maxPerIp_);
}

bool AuthThrottle::pairBlocked(std::string_view ip, std::string_view account,
                               Clock::time_point now) {
    return maxPerAccount_ > 0 &&
           recent(byPair_, pairKey(ip, account), now) >= static_cast<std::size_t>(maxPerAccount_);
}

std::chrono::milliseconds AuthThrottle::accountDelay(std::string_view account,
                                                     Clock::time_point now) {
    const bool underAttack = maxPerAccount_ > 0 && recent(byAccount_, std::string(account), now) >=
                                                       static_cast<std::size_t>(maxPerAccount_);
    return underAttack ? kAttackDelay : std::chrono::milliseconds(0);
}

void AuthThrottle::recordFailure(std::string_view ip, std::string_view account,
                                 Clock::time_point now) {
    byIp_[std::string(ip)].push_back(now);
    if (!account.empty()) {
        byAccount_[std::string(account)].push_back(now);
        byPair_[pairKey(ip, account)].push_back(now);
    }
    // Forget old entries now and then, so that the maps stay bounded by recent failures.
    if (now - lastPrune_ > window_) {
        prune(byIp_, now);
        prune(byAccount_, now);
        prune(byPair_, now);
        lastPrune_ = now;
    }
}

void AuthThrottle::prune(Log& log, Clock::time_point now) {
    for (auto it = log.begin(); it != log.end();) {
        auto& times = it->second;
        while (!times.empty() && now - times.front() > window_) {
            times.pop_front();
        }
        it = times.empty() ? log.erase(it) : std::next(it);
    }
}

}  // namespace corvid::c2s
