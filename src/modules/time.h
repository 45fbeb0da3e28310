#pragma once

#include <ctime>
#include <string>

namespace corvid::modules {

/// XEP-0082 DateTime in UTC, "2006-12-19T17:58:35Z".
std::string utcStamp(std::time_t t);
/// XEP-0082 time zone offset, "+hh:mm" / "-hh:mm", for an offset from UTC in seconds.
std::string tzoString(long offsetSeconds);

}  // namespace corvid::modules
