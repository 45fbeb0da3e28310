#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "xml/element.h"

namespace corvid::modules {

/// The XML of a stanza as the IM stores keep it (offline messages, pending subscription
/// requests): the element with its namespace declared, nothing else.
std::string encodeStoredStanza(const xml::Element& stanza);

/// Parses what encodeStoredStanza() wrote (with the restricted-XML rules of the stream parser);
/// std::nullopt when it is not one well-formed element.
std::optional<xml::Element> decodeStoredStanza(std::string_view text);

/// An XEP-0082 date-time in UTC with milliseconds, "2024-05-01T12:34:56.789Z".
std::string xmppTimestamp(std::chrono::system_clock::time_point when);

/// XEP-0203 <delay xmlns='urn:xmpp:delay' from='domain' stamp='...'/>.
xml::Element delayElement(std::string_view from, std::chrono::system_clock::time_point when);

}  // namespace corvid::modules
