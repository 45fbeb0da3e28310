#include "c2s/auth_throttle.h"

namespace corvid::c2s {

bool AuthThrottle::blocked(Log& log, std::string_view key, int max, Clock::time_point now) {
    if (max <= 0) {
        return false;
    }
    auto it = log.find(std::string(key));
    if (it == log.end()) {
        return false;
    }
    auto& times = it->second;
    while (!times.empty() && now - times.front() > window_) {
        times.pop_front();
    }
    if (times.empty()) {
        log.erase(it);
        return false;
    }
    return static_cast<int>(times.size()) >= max;
}

bool AuthThrottle::ipBlocked(std::string_view ip, Clock::time_point now) {
    return blocked(byIp_, ip, maxPerIp_, now);
}

bool AuthThrottle::accountBlocked(std::string_view account, Clock::time_point now) {
    return blocked(byAccount_, account, maxPerAccount_, now);
}

void AuthThrottle::recordFailure(std::string_view ip, std::string_view account,
                                 Clock::time_point now) {
    byIp_[std::string(ip)].push_back(now);
    if (!account.empty()) {
        byAccount_[std::string(account)].push_back(now);
    }
    // Forget old entries now and then, so that the maps stay bounded by recent failures.
    if (now - lastPrune_ > window_) {
        prune(byIp_, now);
        prune(byAccount_, now);
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
