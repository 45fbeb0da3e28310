#pragma once

// Stanza errors (RFC 6120 §8.3) and stream errors (RFC 6120 §4.9).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "xml/element.h"

namespace corvid::stanza {

/// The 'type' attribute of a stanza <error/> (RFC 6120 §8.3.2).
enum class ErrorType : std::uint8_t { Auth, Cancel, Continue, Modify, Wait };

/// The defined stanza error conditions of RFC 6120 §8.3.3.
enum class StanzaCondition : std::uint8_t {
    BadRequest,
    Conflict,
    FeatureNotImplemented,
    Forbidden,
    Gone,
    InternalServerError,
    ItemNotFound,
    JidMalformed,
    NotAcceptable,
    NotAllowed,
    NotAuthorized,
    PolicyViolation,
    RecipientUnavailable,
    Redirect,
    RegistrationRequired,
    RemoteServerNotFound,
    RemoteServerTimeout,
    ResourceConstraint,
    ServiceUnavailable,
    SubscriptionRequired,
    UndefinedCondition,
    UnexpectedRequest,
};

inline constexpr std::array kAllStanzaConditions = {
    StanzaCondition::BadRequest,
    StanzaCondition::Conflict,
    StanzaCondition::FeatureNotImplemented,
    StanzaCondition::Forbidden,
    StanzaCondition::Gone,
    StanzaCondition::InternalServerError,
    StanzaCondition::ItemNotFound,
    StanzaCondition::JidMalformed,
    StanzaCondition::NotAcceptable,
    StanzaCondition::NotAllowed,
    StanzaCondition::NotAuthorized,
    StanzaCondition::PolicyViolation,
    StanzaCondition::RecipientUnavailable,
    StanzaCondition::Redirect,
    StanzaCondition::RegistrationRequired,
    StanzaCondition::RemoteServerNotFound,
    StanzaCondition::RemoteServerTimeout,
    StanzaCondition::ResourceConstraint,
    StanzaCondition::ServiceUnavailable,
    StanzaCondition::SubscriptionRequired,
    StanzaCondition::UndefinedCondition,
    StanzaCondition::UnexpectedRequest,
};

/// The defined stream error conditions of RFC 6120 §4.9.3.
enum class StreamCondition : std::uint8_t {
    BadFormat,
    BadNamespacePrefix,
    Conflict,
    ConnectionTimeout,
    HostGone,
    HostUnknown,
    ImproperAddressing,
    InternalServerError,
    InvalidFrom,
    InvalidNamespace,
    InvalidXml,
    NotAuthorized,
    NotWellFormed,
    PolicyViolation,
    RemoteConnectionFailed,
    Reset,
    ResourceConstraint,
    RestrictedXml,
    SeeOtherHost,
    SystemShutdown,
    UndefinedCondition,
    UnsupportedEncoding,
    UnsupportedFeature,
    UnsupportedStanzaType,
    UnsupportedVersion,
};

inline constexpr std::array kAllStreamConditions = {
    StreamCondition::BadFormat,
    StreamCondition::BadNamespacePrefix,
    StreamCondition::Conflict,
    StreamCondition::ConnectionTimeout,
    StreamCondition::HostGone,
    StreamCondition::HostUnknown,
    StreamCondition::ImproperAddressing,
    StreamCondition::InternalServerError,
    StreamCondition::InvalidFrom,
    StreamCondition::InvalidNamespace,
    StreamCondition::InvalidXml,
    StreamCondition::NotAuthorized,
    StreamCondition::NotWellFormed,
    StreamCondition::PolicyViolation,
    StreamCondition::RemoteConnectionFailed,
    StreamCondition::Reset,
    StreamCondition::ResourceConstraint,
    StreamCondition::RestrictedXml,
    StreamCondition::SeeOtherHost,
    StreamCondition::SystemShutdown,
    StreamCondition::UndefinedCondition,
    StreamCondition::UnsupportedEncoding,
    StreamCondition::UnsupportedFeature,
    StreamCondition::UnsupportedStanzaType,
    StreamCondition::UnsupportedVersion,
};

std::string_view toString(ErrorType type);
std::optional<ErrorType> errorTypeFromString(std::string_view s);

/// The element name of the condition, e.g. "item-not-found".
std::string_view toString(StanzaCondition condition);
std::optional<StanzaCondition> stanzaConditionFromString(std::string_view s);

std::string_view toString(StreamCondition condition);
std::optional<StreamCondition> streamConditionFromString(std::string_view s);

/// The error type RFC 6120 §8.3.3 gives each condition in its definition (where it offers two,
/// the first). undefined-condition has none; it gets "cancel".
ErrorType defaultErrorType(StanzaCondition condition);

/// A short English text saying what the condition means to a user ("the address is malformed"),
/// used by the builders below when the caller has nothing more specific to say: every error the
/// server raises carries a <text/> (RFC 6120 §8.3.2, §4.9.2), so clients show words, not a
/// bare condition name. Never empty.
std::string_view defaultText(StanzaCondition condition);
std::string_view defaultText(StreamCondition condition);

/// Optional parts of a stanza error.
struct StanzaErrorOptions {
    /// Overrides defaultErrorType(condition).
    std::optional<ErrorType> type;
    /// The 'by' attribute: the entity that generated the error (RFC 6120 §8.3.2).
    std::string_view by;
    /// Character data of <gone/> and <redirect/>: the new address (RFC 6120 §8.3.3.5, §8.3.3.14).
    std::string_view uri;
    /// xml:lang of the <text/> element; none is written when empty.
    std::string_view lang = "en";
    /// An application-specific condition element (RFC 6120 §8.3.2), appended after <text/>.
    const xml::Element* appCondition = nullptr;
    /// Include the original stanza's child nodes (RFC 6120 §8.3.1 allows it; the sender can
    /// then see which request failed). Off for very large stanzas, for instance.
    bool includeOriginal = true;
};

/// The error reply to `original` (RFC 6120 §8.3.1): same element name and namespace, 'to' and
/// 'from' swapped, the same 'id', type='error', the original children, then
/// <error type=...><condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text .../></error>.
/// An empty `text` means defaultText(condition).
/// The caller must not answer an error stanza with another (check isErrorStanza() first).
xml::Element makeStanzaError(const xml::Element& original, StanzaCondition condition,
                             std::string_view text = {});
xml::Element makeStanzaError(const xml::Element& original, StanzaCondition condition,
                             std::string_view text, const StanzaErrorOptions& options);

/// <stream:error> (element "error" in http://etherx.jabber.org/streams) holding the condition in
/// urn:ietf:params:xml:ns:xmpp-streams and a <text xml:lang='en'/> (RFC 6120 §4.9.2): `text`, or
/// defaultText(condition) when it is empty.
xml::Element makeStreamError(StreamCondition condition, std::string_view text = {});
/// see-other-host carries the new host (and port) as character data (RFC 6120 §4.9.3.19).
xml::Element makeSeeOtherHostError(std::string_view hostAndPort, std::string_view text = {});

/// True for a message, presence or iq of type 'error': errors are never answered with errors
/// (RFC 6120 §8.3.1).
bool isErrorStanza(const xml::Element& stanza);

/// The error carried by a stanza of type 'error'.
struct StanzaErrorInfo {
    ErrorType type;
    /// undefined-condition when the <error/> holds no condition we know (RFC 6120 §8.3.2 lets
    /// a receiver treat unknown conditions that way).
    StanzaCondition condition;
    std::string text;
};
/// Reads the <error/> child of an error stanza; nullopt when there is none or its type is
/// missing or unknown.
std::optional<StanzaErrorInfo> parseStanzaError(const xml::Element& stanza);

/// The condition of a received <stream:error/>; undefined-condition when it names none we know.
std::optional<StreamCondition> parseStreamError(const xml::Element& streamError);

}  // namespace corvid::stanza
