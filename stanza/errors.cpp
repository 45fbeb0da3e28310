#include "stanza/errors.h"

#include "stanza/ns.h"
#include "stanza/stanza.h"

namespace corvid::stanza {

namespace {

struct StanzaConditionInfo {
    StanzaCondition condition;
    std::string_view name;
    ErrorType type;
};

// RFC 6120 §8.3.3.1 - §8.3.3.22, in order, with the type each definition gives.
constexpr std::array<StanzaConditionInfo, 22> kStanzaConditions = {{
    {StanzaCondition::BadRequest, "bad-request", ErrorType::Modify},
    {StanzaCondition::Conflict, "conflict", ErrorType::Cancel},
    {StanzaCondition::FeatureNotImplemented, "feature-not-implemented", ErrorType::Cancel},
    {StanzaCondition::Forbidden, "forbidden", ErrorType::Auth},
    {StanzaCondition::Gone, "gone", ErrorType::Cancel},
    {StanzaCondition::InternalServerError, "internal-server-error", ErrorType::Cancel},
    {StanzaCondition::ItemNotFound, "item-not-found", ErrorType::Cancel},
    {StanzaCondition::JidMalformed, "jid-malformed", ErrorType::Modify},
    {StanzaCondition::NotAcceptable, "not-acceptable", ErrorType::Modify},
    {StanzaCondition::NotAllowed, "not-allowed", ErrorType::Cancel},
    {StanzaCondition::NotAuthorized, "not-authorized", ErrorType::Auth},
    {StanzaCondition::PolicyViolation, "policy-violation", ErrorType::Modify},
    {StanzaCondition::RecipientUnavailable, "recipient-unavailable", ErrorType::Wait},
    {StanzaCondition::Redirect, "redirect", ErrorType::Modify},
    {StanzaCondition::RegistrationRequired, "registration-required", ErrorType::Auth},
    {StanzaCondition::RemoteServerNotFound, "remote-server-not-found", ErrorType::Cancel},
    {StanzaCondition::RemoteServerTimeout, "remote-server-timeout", ErrorType::Wait},
    {StanzaCondition::ResourceConstraint, "resource-constraint", ErrorType::Wait},
    {StanzaCondition::ServiceUnavailable, "service-unavailable", ErrorType::Cancel},
    {StanzaCondition::SubscriptionRequired, "subscription-required", ErrorType::Auth},
    {StanzaCondition::UndefinedCondition, "undefined-condition", ErrorType::Cancel},
    {StanzaCondition::UnexpectedRequest, "unexpected-request", ErrorType::Wait},
}};

struct StreamConditionInfo {
    StreamCondition condition;
    std::string_view name;
};

// RFC 6120 §4.9.3.1 - §4.9.3.25, in order.
constexpr std::array<StreamConditionInfo, 25> kStreamConditions = {{
    {StreamCondition::BadFormat, "bad-format"},
    {StreamCondition::BadNamespacePrefix, "bad-namespace-prefix"},
    {StreamCondition::Conflict, "conflict"},
    {StreamCondition::ConnectionTimeout, "connection-timeout"},
    {StreamCondition::HostGone, "host-gone"},
    {StreamCondition::HostUnknown, "host-unknown"},
    {StreamCondition::ImproperAddressing, "improper-addressing"},
    {StreamCondition::InternalServerError, "internal-server-error"},
    {StreamCondition::InvalidFrom, "invalid-from"},
    {StreamCondition::InvalidNamespace, "invalid-namespace"},
    {StreamCondition::InvalidXml, "invalid-xml"},
    {StreamCondition::NotAuthorized, "not-authorized"},
    {StreamCondition::NotWellFormed, "not-well-formed"},
    {StreamCondition::PolicyViolation, "policy-violation"},
    {StreamCondition::RemoteConnectionFailed, "remote-connection-failed"},
    {StreamCondition::Reset, "reset"},
    {StreamCondition::ResourceConstraint, "resource-constraint"},
    {StreamCondition::RestrictedXml, "restricted-xml"},
    {StreamCondition::SeeOtherHost, "see-other-host"},
    {StreamCondition::SystemShutdown, "system-shutdown"},
    {StreamCondition::UndefinedCondition, "undefined-condition"},
    {StreamCondition::UnsupportedEncoding, "unsupported-encoding"},
    {StreamCondition::UnsupportedFeature, "unsupported-feature"},
    {StreamCondition::UnsupportedStanzaType, "unsupported-stanza-type"},
    {StreamCondition::UnsupportedVersion, "unsupported-version"},
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
    addText(error, ns::kStanzas, text, options.lang);
    if (options.appCondition != nullptr) {
        error.addChild(*options.appCondition);
    }
    return reply;
}

xml::Element makeStreamError(StreamCondition condition, std::string_view text) {
    xml::Element error("error", std::string(ns::kStreams));
    error.addChild(std::string(toString(condition)), ns::kStreamErrors);
    addText(error, ns::kStreamErrors, text, "en");
    return error;
}

xml::Element makeSeeOtherHostError(std::string_view hostAndPort, std::string_view text) {
    xml::Element error("error", std::string(ns::kStreams));
    error.addChild(std::string(toString(StreamCondition::SeeOtherHost)), ns::kStreamErrors)
        .addText(hostAndPort);
    addText(error, ns::kStreamErrors, text, "en");
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
