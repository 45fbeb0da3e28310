#include "stanza/delay.h"

#include <cstdio>
#include <ctime>

#include "stanza/ns.h"

namespace corvid::stanza {

std::string xmppTimestamp(std::chrono::system_clock::time_point when) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return buf;
}

xml::Element delayElement(std::string_view from, std::chrono::system_clock::time_point when) {
    xml::Element delay("delay", std::string(ns::kDelay));
    delay.setAttr("from", std::string(from));
    delay.setAttr("stamp", xmppTimestamp(when));
    return delay;
}

}  // namespace corvid::stanza
