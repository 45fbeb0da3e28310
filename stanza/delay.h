#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "xml/element.h"

namespace corvid::stanza {

/// An XEP-0082 date-time in UTC with milliseconds, "2024-05-01T12:34:56.789Z".
std::string xmppTimestamp(std::chrono::system_clock::time_point when);

/// XEP-0203 <delay xmlns='urn:xmpp:delay' from='domain' stamp='...'/>.
xml::Element delayElement(std::string_view from, std::chrono::system_clock::time_point when);

}  // namespace corvid::stanza
