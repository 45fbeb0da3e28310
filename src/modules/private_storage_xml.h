#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "xml/element.h"

namespace corvid::modules {

/// XML that modules keep in the database as text (vCards, private XML): written with
/// xml::toString(), which declares the element's namespace, and parsed back here.
/// TODO: move to xml/ as a general "parse one element" helper if more users appear.
std::string storedXml(const xml::Element& element);

/// The element stored by storedXml(), or std::nullopt if the text is not one well-formed element
/// (a damaged row: callers answer internal-server-error).
std::optional<xml::Element> parseStoredXml(std::string_view text);

}  // namespace corvid::modules
