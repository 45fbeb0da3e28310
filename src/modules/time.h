#pragma once

#include <ctime>
#include <string>

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0082 DateTime in UTC, "2006-12-19T17:58:35Z".
std::string utcStamp(std::time_t t);
/// XEP-0082 time zone offset, "+hh:mm" / "-hh:mm", for an offset from UTC in seconds.
std::string tzoString(long offsetSeconds);

/// XEP-0202 Entity Time for the server: the UTC time and the server's offset from UTC.
ModulePtr makeTimeModule(ModuleContext& context);

}  // namespace corvid::modules
