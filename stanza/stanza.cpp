#include "stanza/stanza.h"

#include <charconv>

#include "stanza/ns.h"

namespace corvid::stanza {

bool isStanzaNamespace(std::string_view ns) {
    return ns == ns::kClient || ns == ns::kServer || ns == ns::kComponentAccept;
}

StanzaKind stanzaKind(const xml::Element& e) {
    if (!isStanzaNamespace(e.ns())) {
        return StanzaKind::Other;
    }
    const std::string& name = e.name();
    if (name == "message") {
        return StanzaKind::Message;
    }
    if (name == "presence") {
        return StanzaKind::Presence;
    }
    if (name == "iq") {
        return StanzaKind::Iq;
    }
    return StanzaKind::Other;
}

std::string_view toString(StanzaKind kind) {
    switch (kind) {
        case StanzaKind::Message:
            return "message";
        case StanzaKind::Presence:
            return "presence";
        case StanzaKind::Iq:
            return "iq";
        case StanzaKind::Other:
            return "other";
    }
    return "other";
}

std::string_view toString(IqType type) {
    switch (type) {
        case IqType::Get:
            return "get";
        case IqType::Set:
            return "set";
        case IqType::Result:
            return "result";
        case IqType::Error:
            return "error";
        case IqType::Invalid:
            return "";
    }
    return "";
}

std::string_view toString(MessageType type) {
    switch (type) {
        case MessageType::Normal:
            return "normal";
        case MessageType::Chat:
            return "chat";
        case MessageType::Groupchat:
            return "groupchat";
        case MessageType::Headline:
            return "headline";
        case MessageType::Error:
            return "error";
    }
    return "normal";
}

std::string_view toString(PresenceType type) {
    switch (type) {
        case PresenceType::Available:
        case PresenceType::Invalid:
            return "";
        case PresenceType::Unavailable:
            return "unavailable";
        case PresenceType::Subscribe:
            return "subscribe";
        case PresenceType::Subscribed:
            return "subscribed";
        case PresenceType::Unsubscribe:
            return "unsubscribe";
        case PresenceType::Unsubscribed:
            return "unsubscribed";
        case PresenceType::Probe:
            return "probe";
        case PresenceType::Error:
            return "error";
    }
    return "";
}

std::string_view toString(PresenceShow show) {
    switch (show) {
        case PresenceShow::None:
        case PresenceShow::Invalid:
            return "";
        case PresenceShow::Away:
            return "away";
        case PresenceShow::Chat:
            return "chat";
        case PresenceShow::Dnd:
            return "dnd";
        case PresenceShow::Xa:
            return "xa";
    }
    return "";
}

std::string_view toString(IqProblem problem) {
    switch (problem) {
        case IqProblem::MissingId:
            return "iq without an 'id' attribute (RFC 6120 §8.2.3)";
        case IqProblem::MissingType:
            return "iq without a 'type' attribute (RFC 6120 §8.2.3)";
        case IqProblem::InvalidType:
            return "iq with an unknown 'type' (RFC 6120 §8.2.3)";
        case IqProblem::GetSetPayloadCount:
            return "iq get/set must contain exactly one child element (RFC 6120 §8.2.3)";
        case IqProblem::ResultPayloadCount:
            return "iq result may contain at most one child element (RFC 6120 §8.2.3)";
        case IqProblem::MissingError:
            return "iq error without an <error/> child (RFC 6120 §8.3.1)";
    }
    return "invalid iq";
}

JidAttr StanzaView::jidAttr(std::string_view name) const {
    const std::string* value = element_->findAttr(name);
    if (value == nullptr) {
        return std::optional<Jid>();
    }
    auto jid = Jid::parse(*value);
    if (!jid) {
        return std::unexpected(std::move(jid.error()));
    }
    return std::optional<Jid>(std::move(*jid));
}

namespace {

std::optional<MessageType> knownMessageType(std::string_view t) {
    if (t == "normal") {
        return MessageType::Normal;
    }
    if (t == "chat") {
        return MessageType::Chat;
    }
    if (t == "groupchat") {
        return MessageType::Groupchat;
    }
    if (t == "headline") {
        return MessageType::Headline;
    }
    if (t == "error") {
        return MessageType::Error;
    }
    return std::nullopt;
}

std::string_view trimXmlSpace(std::string_view s) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

MessageType MessageView::type() const {
    const std::string* t = element_->findAttr("type");
    if (t == nullptr) {
        return MessageType::Normal;
    }
    return knownMessageType(*t).value_or(MessageType::Normal);
}

bool MessageView::typeIsKnown() const {
    const std::string* t = element_->findAttr("type");
    return t == nullptr || knownMessageType(*t).has_value();
}

std::string MessageView::body() const {
    return element_->childText("body");
}

bool MessageView::hasBody() const {
    return element_->findChild("body") != nullptr;
}

PresenceType PresenceView::type() const {
    const std::string* t = element_->findAttr("type");
    if (t == nullptr) {
        return PresenceType::Available;
    }
    for (PresenceType p : {PresenceType::Unavailable, PresenceType::Subscribe,
                           PresenceType::Subscribed, PresenceType::Unsubscribe,
                           PresenceType::Unsubscribed, PresenceType::Probe, PresenceType::Error}) {
        if (*t == toString(p)) {
            return p;
        }
    }
    // type='available' is not a value RFC 6121 defines (availability is the absence of 'type').
    return PresenceType::Invalid;
}

PresenceShow PresenceView::show() const {
    const xml::Element* s = element_->findChild("show");
    if (s == nullptr) {
        return PresenceShow::None;
    }
    std::string value = s->text();
    for (PresenceShow p :
         {PresenceShow::Away, PresenceShow::Chat, PresenceShow::Dnd, PresenceShow::Xa}) {
        if (value == toString(p)) {
            return p;
        }
    }
    return PresenceShow::Invalid;
}

std::optional<int> PresenceView::priority() const {
    const xml::Element* p = element_->findChild("priority");
    if (p == nullptr) {
        return 0;
    }
    // xs:byte: optional sign, decimal digits, surrounding whitespace collapsed.
    std::string text = p->text();
    std::string_view v = trimXmlSpace(text);
    if (v.size() > 1 && v.front() == '+' && v[1] != '-') {
        v.remove_prefix(1);
    }
    int value = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size() || value < -128 ||
        value > 127) {
        return std::nullopt;
    }
    return value;
}

std::string PresenceView::status() const {
    return element_->childText("status");
}

IqType IqView::type() const {
    std::string_view t = element_->attr("type");
    for (IqType i : {IqType::Get, IqType::Set, IqType::Result, IqType::Error}) {
        if (t == toString(i)) {
            return i;
        }
    }
    return IqType::Invalid;
}

const xml::Element* IqView::payload() const {
    for (const auto& node : element_->children()) {
        const auto* child = std::get_if<xml::Element>(&node);
        if (child != nullptr && !child->is("error", element_->ns())) {
            return child;
        }
    }
    return nullptr;
}

std::expected<void, IqProblem> IqView::validate() const {
    if (!element_->hasAttr("id")) {
        return std::unexpected(IqProblem::MissingId);
    }
    if (!element_->hasAttr("type")) {
        return std::unexpected(IqProblem::MissingType);
    }
    std::size_t children = 0;
    for (const auto& node : element_->children()) {
        children += std::holds_alternative<xml::Element>(node) ? 1 : 0;
    }
    switch (type()) {
        case IqType::Get:
        case IqType::Set:
            if (children != 1) {
                return std::unexpected(IqProblem::GetSetPayloadCount);
            }
            return {};
        case IqType::Result:
            if (children > 1) {
                return std::unexpected(IqProblem::ResultPayloadCount);
            }
            return {};
        case IqType::Error:
            if (element_->findChild("error", element_->ns()) == nullptr) {
                return std::unexpected(IqProblem::MissingError);
            }
            return {};
        case IqType::Invalid:
            break;
    }
    return std::unexpected(IqProblem::InvalidType);
}

}  // namespace corvid::stanza
