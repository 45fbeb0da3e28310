#pragma once

// PRECIS (RFC 8264) machinery behind the JID preparation functions in jid.h: derived properties of
// code points, the two string classes, the UsernameCaseMapped and OpaqueString profiles of RFC 8265
// and the Bidi Rule of RFC 5893. These are the general (ICU-based) paths; jid.cpp adds fast paths
// for pure-ASCII input on top of them.
//
// The Unicode version is ICU's (ICU 72: Unicode 15.0). A code point unassigned in that version is
// UNASSIGNED and therefore rejected (RFC 8264 §9.10).

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace corvid::stanza::precis {

/// The derived property values of RFC 8264 §8. The ID_DIS / FREE_PVAL pair is one value: the
/// §9 algorithm only ever yields it as a pair ("ID_DIS or FREE_PVAL"), disallowed in the
/// IdentifierClass and valid in the FreeformClass.
enum class DerivedProperty : std::uint8_t {
    Pvalid,
    IdDisFreePval,
    ContextJ,
    ContextO,
    Disallowed,
    Unassigned,
};

std::string_view toString(DerivedProperty p);

/// The derived property of one code point, computed with ICU in the order of RFC 8264 §9.
DerivedProperty derivedProperty(char32_t cp);

/// The two PRECIS string classes (RFC 8264 §4).
enum class StringClass : std::uint8_t { Identifier, Freeform };

/// Why a string failed a profile.
enum class FailureCode : std::uint8_t {
    InvalidUtf8,
    Empty,
    Disallowed,   ///< a code point the string class does not allow
    ContextRule,  ///< a CONTEXTJ / CONTEXTO code point whose rule (RFC 5892 App. A) fails
    BidiRule,     ///< RFC 5893 §2
    Unstable,     ///< the rules did not reach a fixed point (RFC 8264 §7)
};

struct Failure {
    FailureCode code;
    /// The offending code point for Disallowed / ContextRule, else 0.
    char32_t codePoint = 0;
};

/// Decodes strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::optional<std::u32string> decodeUtf8(std::string_view in);
void appendUtf8(char32_t cp, std::string& out);
std::string encodeUtf8(std::u32string_view in);

/// True when every code point of `s` is allowed by the string class, including the contextual
/// rules of RFC 5892 Appendix A for CONTEXTJ / CONTEXTO code points. On failure, `failure` gets
/// the first offending code point and the code Disallowed or ContextRule.
bool checkStringClass(std::u32string_view s, StringClass cls, Failure& failure);

/// The Bidi Rule of RFC 5893 §2, applied to a whole string. Strings that contain no right-to-left
/// code point (bidi class R, AL or AN) pass untouched (RFC 8265 §3.3.2 step 5).
bool passesBidiRule(std::u32string_view s);

/// The width-mapping, case-mapping and normalisation steps shared by UsernameCaseMapped and the
/// domainpart mapping: fullwidth/halfwidth code points to their decomposition mapping, Unicode
/// toLowerCase() (root locale), then NFC.
std::u32string mapWidthLowerNfc(std::u32string_view s);

/// RFC 8265 §3.3: the UsernameCaseMapped profile (enforcement), result as UTF-8.
std::expected<std::string, Failure> enforceUsernameCaseMapped(std::string_view in);

/// RFC 8265 §4.2: the OpaqueString profile (enforcement), result as UTF-8.
std::expected<std::string, Failure> enforceOpaqueString(std::string_view in);

}  // namespace corvid::stanza::precis
