#include "modules/muc/history.h"

#include <charconv>
#include <ctime>

#include "stanza/delay.h"
#include "xml/serializer.h"

namespace corvid::modules::muc {

namespace {

/// Reads exactly `digits` decimal digits at `pos`.
std::optional<int> digitsAt(std::string_view s, std::size_t pos, std::size_t digits) {
    if (pos + digits > s.size()) {
        return std::nullopt;
    }
    int value = 0;
    for (std::size_t i = pos; i < pos + digits; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

std::optional<std::size_t> parseCount(std::string_view v) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
        return std::nullopt;
    }
    return n;
}

/// Unicode characters in UTF-8 text (every byte that does not continue a sequence).
std::size_t characters(std::string_view utf8) {
    std::size_t n = 0;
    for (unsigned char c : utf8) {
        n += (c & 0xC0) != 0x80 ? 1 : 0;
    }
    return n;
}

}  // namespace

std::optional<Clock::time_point> parseDateTime(std::string_view s) {
    // XEP-0082 §3.2: CCYY-MM-DDThh:mm:ss[.sss]TZD
    auto year = digitsAt(s, 0, 4), month = digitsAt(s, 5, 2), day = digitsAt(s, 8, 2),
         hour = digitsAt(s, 11, 2), minute = digitsAt(s, 14, 2), second = digitsAt(s, 17, 2);
    if (!year || !month || !day || !hour || !minute || !second || s[4] != '-' || s[7] != '-' ||
        s[10] != 'T' || s[13] != ':' || s[16] != ':' || *month < 1 || *month > 12 || *day < 1 ||
        *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    std::chrono::milliseconds fraction{0};
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        int scale = 100;
        int ms = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            ms += (s[pos] - '0') * scale;
            scale /= 10;
            ++pos;
        }
        if (pos == start) {
            return std::nullopt;
        }
        fraction = std::chrono::milliseconds(ms);
    }
    int offsetMinutes = 0;
    if (pos < s.size() && s[pos] == 'Z') {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        auto oh = digitsAt(s, pos + 1, 2), om = digitsAt(s, pos + 4, 2);
        if (!oh || !om || s[pos + 3] != ':' || *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        offsetMinutes = (s[pos] == '+' ? 1 : -1) * (*oh * 60 + *om);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = *year - 1900;
    tm.tm_mon = *month - 1;
    tm.tm_mday = *day;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    const std::time_t t = timegm(&tm);
    // The clock counts nanoseconds in 64 bits (years 1678 to 2262): later and earlier dates are
    // clamped, which orders them the same way against any message's time.
    constexpr auto kLimit =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::duration::max()) -
        std::chrono::hours(48);
    if (t > kLimit.count()) {
        return Clock::time_point::max();
    }
    if (t < -kLimit.count()) {
        return Clock::time_point::min();
    }
    return Clock::from_time_t(t) - std::chrono::minutes(offsetMinutes) + fraction;
}

std::expected<HistoryRequest, std::string> parseHistoryRequest(const xml::Element* history) {
    HistoryRequest r;
    if (history == nullptr) {
        return r;
    }
    for (std::string_view name : {"maxstanzas", "maxchars", "seconds"}) {
        const std::string* value = history->findAttr(name);
        if (value == nullptr) {
            continue;
        }
        auto n = parseCount(*value);
        if (!n) {
            return std::unexpected("history: " + std::string(name) +
                                   " must be a non-negative integer");
        }
        if (name == "maxstanzas") {
            r.maxStanzas = *n;
        } else if (name == "maxchars") {
            r.maxChars = *n;
        } else {
            r.seconds = std::chrono::seconds(*n);
        }
    }
    if (const std::string* since = history->findAttr("since")) {
        r.since = parseDateTime(*since);
        if (!r.since) {
            return std::unexpected("history: since must be an XEP-0082 DateTime");
        }
    }
    return r;
}

void RoomHistory::add(const xml::Element& message, std::string_view roomJid, Clock::time_point at,
                      std::size_t keep) {
    if (keep == 0) {
        entries_.clear();
        return;
    }
    xml::Element stored = message;
    stored.addChild(stanza::delayElement(roomJid, at));
    const std::size_t chars = characters(xml::toString(stored));
    entries_.push_back(Entry{std::move(stored), at, chars});
    trim(keep);
}

void RoomHistory::trim(std::size_t keep) {
    while (entries_.size() > keep) {
        entries_.pop_front();
    }
}

std::vector<const RoomHistory::Entry*> RoomHistory::select(const HistoryRequest& request,
                                                           std::size_t limit,
                                                           Clock::time_point now) const {
    std::size_t count = std::min(limit, request.maxStanzas.value_or(limit));
    std::size_t chars = 0;
    std::vector<const Entry*> out;
    for (auto it = entries_.rbegin(); it != entries_.rend() && out.size() < count; ++it) {
        if (request.seconds && it->at < now - *request.seconds) {
            break;
        }
        if (request.since && it->at < *request.since) {
            break;
        }
        chars += it->chars;
        if (request.maxChars && chars > *request.maxChars) {
            break;
        }
        out.push_back(&*it);
    }
    return {out.rbegin(), out.rend()};
}

}  // namespace corvid::modules::muc
