#include "stanza/errors.h"

#include "stanza/ns.h"
#include "stanza/stanza.h"

namespace corvid::stanza {

namespace {

struct StanzaConditionInfo {
    StanzaCondition condition;
    std::string_view name;
    ErrorType type;
    std::string_view text;  // when the caller has nothing more specific to say
};

// RFC 6120 §8.3.3.1 - §8.3.3.22, in order, with the type each definition gives and a default
// text (§8.3.2: <text/> is optional, but without it a user sees a bare condition name, or nothing).
constexpr std::array<StanzaConditionInfo, 22> kStanzaConditions = {{
    {StanzaCondition::BadRequest, "bad-request", ErrorType::Modify, "the request is malformed"},
    {StanzaCondition::Conflict, "conflict", ErrorType::Cancel,
     "this conflicts with an existing item or session"},
    {StanzaCondition::FeatureNotImplemented, "feature-not-implemented", ErrorType::Cancel,
     "this feature is not implemented here"},
    {StanzaCondition::Forbidden, "forbidden", ErrorType::Auth, "you are not allowed to do this"},
    {StanzaCondition::Gone, "gone", ErrorType::Cancel,
     "the recipient is no longer at this address"},
    {StanzaCondition::InternalServerError, "internal-server-error", ErrorType::Cancel,
     "internal server error; try again later"},
    {StanzaCondition::ItemNotFound, "item-not-found", ErrorType::Cancel, "no such item"},
    {StanzaCondition::JidMalformed, "jid-malformed", ErrorType::Modify, "the address is malformed"},
    {StanzaCondition::NotAcceptable, "not-acceptable", ErrorType::Modify,
     "the request is not acceptable"},
    {StanzaCondition::NotAllowed, "not-allowed", ErrorType::Cancel,
     "this action is not allowed here"},
    {StanzaCondition::NotAuthorized, "not-authorized", ErrorType::Auth,
     "you are not authorized to do this"},
    {StanzaCondition::PolicyViolation, "policy-violation", ErrorType::Modify,
     "refused by the server's policy"},
    {StanzaCondition::RecipientUnavailable, "recipient-unavailable", ErrorType::Wait,
     "the recipient is unavailable"},
    {StanzaCondition::Redirect, "redirect", ErrorType::Modify, "the recipient has moved"},
    {StanzaCondition::RegistrationRequired, "registration-required", ErrorType::Auth,
     "registration is required first"},
    {StanzaCondition::RemoteServerNotFound, "remote-server-not-found", ErrorType::Cancel,
     "the remote server cannot be reached"},
    {StanzaCondition::RemoteServerTimeout, "remote-server-timeout", ErrorType::Wait,
     "the remote server did not answer in time"},
    {StanzaCondition::ResourceConstraint, "resource-constraint", ErrorType::Wait,
     "the server is too busy; try again later"},
    {StanzaCondition::ServiceUnavailable, "service-unavailable", ErrorType::Cancel,
     "the service or recipient is unavailable"},
    {StanzaCondition::SubscriptionRequired, "subscription-required", ErrorType::Auth,
     "a presence subscription is required"},
    {StanzaCondition::UndefinedCondition, "undefined-condition", ErrorType::Cancel,
     "the request failed"},
    {StanzaCondition::UnexpectedRequest, "unexpected-request", ErrorType::Wait,
     "this request is not expected now"},
}};

struct StreamConditionInfo {
    StreamCondition condition;
    std::string_view name;
    std::string_view text;
};

// RFC 6120 §4.9.3.1 - §4.9.3.25, in order.
constexpr std::array<StreamConditionInfo, 25> kStreamConditions = {{
    {StreamCondition::BadFormat, "bad-format", "the XML is not valid here"},
    {StreamCondition::BadNamespacePrefix, "bad-namespace-prefix", "unsupported namespace prefix"},
    {StreamCondition::Conflict, "conflict", "replaced by a new connection"},
    {StreamCondition::ConnectionTimeout, "connection-timeout",
     "the connection was idle for too long"},
    {StreamCondition::HostGone, "host-gone", "this domain is no longer served here"},
    {StreamCondition::HostUnknown, "host-unknown", "this server does not serve that domain"},
    {StreamCondition::ImproperAddressing, "improper-addressing",
     "a 'to' or 'from' address is missing or wrong"},
    {StreamCondition::InternalServerError, "internal-server-error", "internal server error"},
    {StreamCondition::InvalidFrom, "invalid-from", "the 'from' address is not yours"},
    {StreamCondition::InvalidNamespace, "invalid-namespace", "wrong stream or content namespace"},
    {StreamCondition::InvalidXml, "invalid-xml", "invalid XML"},
    {StreamCondition::NotAuthorized, "not-authorized", "authenticate first"},
    {StreamCondition::NotWellFormed, "not-well-formed", "the XML is not well-formed"},
    {StreamCondition::PolicyViolation, "policy-violation", "refused by the server's policy"},
    {StreamCondition::RemoteConnectionFailed, "remote-connection-failed",
     "the remote server cannot be reached"},
    {StreamCondition::Reset, "reset", "the stream must be opened again"},
    {StreamCondition::ResourceConstraint, "resource-constraint", "the server is too busy"},
    {StreamCondition::RestrictedXml, "restricted-xml",
     "comments, processing instructions, DTDs and entities are not allowed"},
    {StreamCondition::SeeOtherHost, "see-other-host", "connect to another host"},
    {StreamCondition::SystemShutdown, "system-shutdown", "the server is shutting down"},
    {StreamCondition::UndefinedCondition, "undefined-condition", "the stream failed"},
    {StreamCondition::UnsupportedEncoding, "unsupported-encoding", "only UTF-8 is supported"},
    {StreamCondition::UnsupportedFeature, "unsupported-feature",
     "a required feature is not supported"},
    {StreamCondition::UnsupportedStanzaType, "unsupported-stanza-type",
     "unknown top-level element"},
    {StreamCondition::UnsupportedVersion, "unsupported-version", "XMPP 1.0 streams only"},
}};

constexpr bool tablesMatchEnums() {
    for (std::size_t i = 0; i < kStanzaConditions.size(); ++i) {
        if (static_cast<std::size_t>(kStanzaConditions[i].condition) != i) {
            return false;
        }
    }
    for (std::size_t i = 0; i < kStreamConditions.size(); ++i) {
        if (static_cast<std::size_t>(kStreamConditions[i].condition) != i) {
            return false;
        }
    }
    return kStanzaConditions.size() == kAllStanzaConditions.size() &&
           kStreamConditions.size() == kAllStreamConditions.size();
}
static_assert(tablesMatchEnums(), "condition tables must list every enumerator in order");

void addText(xml::Element& parent, std::string_view ns, std::string_view text,
             std::string_view lang) {
    if (text.empty()) {
        return;
    }
    xml::Element& t = parent.addTextChild("text", text, ns);
    if (!lang.empty()) {
        t.setAttr("lang", std::string(lang), xml::kXmlNs);
    }
}

}  // namespace

std::string_view toString(ErrorType type) {
    switch (type) {
        case ErrorType::Auth:
            return "auth";
        case ErrorType::Cancel:
            return "cancel";
        case ErrorType::Continue:
            return "continue";
        case ErrorType::Modify:
            return "modify";
        case ErrorType::Wait:
            return "wait";
    }
    return "cancel";
}

std::optional<ErrorType> errorTypeFromString(std::string_view s) {
    for (ErrorType t : {ErrorType::Auth, ErrorType::Cancel, ErrorType::Continue, ErrorType::Modify,
                        ErrorType::Wait}) {
        if (toString(t) == s) {
            return t;
        }
    }
    return std::nullopt;
}

std::string_view toString(StanzaCondition condition) {
    return kStanzaConditions[static_cast<std::size_t>(condition)].name;
}

std::optional<StanzaCondition> stanzaConditionFromString(std::string_view s) {
    for (const auto& info : kStanzaConditions) {
        if (info.name == s) {
            return info.condition;
        }
    }
    return std::nullopt;
}

std::string_view toString(StreamCondition condition) {
    return kStreamConditions[static_cast<std::size_t>(condition)].name;
}

std::optional<StreamCondition> streamConditionFromString(std::string_view s) {
    for (const auto& info : kStreamConditions) {
        if (info.name == s) {
            return info.condition;
        }
    }
    return std::nullopt;
}

ErrorType defaultErrorType(StanzaCondition condition) {
    return kStanzaConditions[static_cast<std::size_t>(condition)].type;
}

std::string_view defaultText(StanzaCondition condition) {
    return kStanzaConditions[static_cast<std::size_t>(condition)].text;
}

std::string_view defaultText(StreamCondition condition) {
    return kStreamConditions[static_cast<std::size_t>(condition)].text;
}

xml::Element makeStanzaError(const xml::Element& original, StanzaCondition condition,
                             std::string_view text) {
    return makeStanzaError(original, condition, text, StanzaErrorOptions{});
}

xml::Element makeStanzaError(const xml::Element& original, StanzaCondition condition,
                             std::string_view text, const StanzaErrorOptions& options) {
    xml::Element reply(original.name(), original.ns());
    // RFC 6120 §8.3.1: the reply goes back to the sender, so 'to' and 'from' swap; 'id' (and
    // any other attribute, such as xml:lang) stays as it was.
    if (const std::string* from = original.findAttr("from")) {
        reply.setAttr("to", *from);
    }
    if (const std::string* to = original.findAttr("to")) {
        reply.setAttr("from", *to);
    }
    for (const xml::Attribute& a : original.attributes()) {
        if (a.ns.empty() && (a.name == "to" || a.name == "from" || a.name == "type")) {
            continue;
        }
        reply.attributes().push_back(a);
    }
    reply.setAttr("type", "error");
    if (options.includeOriginal) {
        reply.children() = original.children();
    }
    // The <error/> element is in the stanza's own namespace; its children are not.
    xml::Element& error = reply.addChild("error", original.ns());
    error.setAttr("type",
                  std::string(toString(options.type.value_or(defaultErrorType(condition)))));
    if (!options.by.empty()) {
        error.setAttr("by", std::string(options.by));
    }
    xml::Element& cond = error.addChild(std::string(toString(condition)), ns::kStanzas);
    if (!options.uri.empty() &&
        (condition == StanzaCondition::Gone || condition == StanzaCondition::Redirect)) {
        cond.addText(options.uri);
    }
    addText(error, ns::kStanzas, text.empty() ? defaultText(condition) : text, options.lang);
    if (options.appCondition != nullptr) {
        error.addChild(*options.appCondition);
    }
    return reply;
}

xml::Element makeStreamError(StreamCondition condition, std::string_view text) {
    xml::Element error("error", std::string(ns::kStreams));
    error.addChild(std::string(toString(condition)), ns::kStreamErrors);
    addText(error, ns::kStreamErrors, text.empty() ? defaultText(condition) : text, "en");
    return error;
}

xml::Element makeSeeOtherHostError(std::string_view hostAndPort, std::string_view text) {
    xml::Element error("error", std::string(ns::kStreams));
    error.addChild(std::string(toString(StreamCondition::SeeOtherHost)), ns::kStreamErrors)
        .addText(hostAndPort);
    addText(error, ns::kStreamErrors,
            text.empty() ? defaultText(StreamCondition::SeeOtherHost) : text, "en");
    return error;
}

bool isErrorStanza(const xml::Element& stanza) {
    return stanzaKind(stanza) != StanzaKind::Other && stanza.attr("type") == "error";
}

std::optional<StanzaErrorInfo> parseStanzaError(const xml::Element& stanza) {
    const xml::Element* error = stanza.findChild("error", stanza.ns());
    if (error == nullptr) {
        return std::nullopt;
    }
    std::optional<ErrorType> type = errorTypeFromString(error->attr("type"));
    if (!type) {
        return std::nullopt;
    }
    StanzaErrorInfo info{*type, StanzaCondition::UndefinedCondition, {}};
    for (const xml::Element* child : error->childElements()) {
        if (child->ns() != ns::kStanzas) {
            continue;  // an application-specific condition
        }
        if (child->name() == "text") {
            if (info.text.empty()) {
                info.text = child->text();
            }
        } else if (auto c = stanzaConditionFromString(child->name())) {
            info.condition = *c;
        }
    }
    return info;
}

std::optional<StreamCondition> parseStreamError(const xml::Element& streamError) {
    if (!streamError.is("error", ns::kStreams)) {
        return std::nullopt;
    }
    for (const xml::Element* child : streamError.childElements()) {
        if (child->ns() == ns::kStreamErrors && child->name() != "text") {
            return streamConditionFromString(child->name())
                .value_or(StreamCondition::UndefinedCondition);
        }
    }
    return StreamCondition::UndefinedCondition;
}

}  // namespace corvid::stanza
