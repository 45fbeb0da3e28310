#pragma once

#include <string>
#include <string_view>

#include "xml/element.h"

namespace corvid::xml {

/// The XMPP stream namespace; its elements are written with the `stream:` prefix when the stream
/// header has declared it (SerializeScope::streamPrefix).
inline constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";

/// What is already declared where the element is written.
struct SerializeScope {
    /// The default namespace in scope: no xmlns is written for an element in this namespace.
    std::string_view defaultNs;
    /// True inside a stream whose header declared xmlns:stream.
    bool streamPrefix = false;
};

/// Appends `text` escaped as character data. Escapes &, <, > and CR, so that the parser gives back
/// exactly the same text (RFC 6120 §11.3: the server never forwards raw input bytes).
void escapeText(std::string_view text, std::string& out);
/// Appends `value` escaped for an attribute quoted with '. Escapes &, <, >, ', " and the
/// whitespace characters that attribute-value normalisation would otherwise change.
void escapeAttr(std::string_view value, std::string& out);

/// Appends the XML of `e` (and its subtree) to `out`.
void serialize(const Element& e, std::string& out, SerializeScope scope = {});
/// Returns the XML of `e` as a string, declaring its namespace.
std::string toString(const Element& e, SerializeScope scope = {});

}  // namespace corvid::xml
