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

}  // namespace corvid::modules
