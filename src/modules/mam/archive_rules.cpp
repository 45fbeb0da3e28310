#include "modules/mam/archive_rules.h"

#include <array>

#include "stanza/jid.h"
#include "stanza/ns.h"

namespace corvid::modules::mam {

namespace ns = stanza::ns;

namespace {

// Payloads that carry a conversation without a <body/>.
constexpr std::array<std::string_view, 8> kConversationPayloads = {
    "eu.siacs.conversations.axolotl",  // OMEMO (XEP-0384 0.3, what clients deploy)
    "urn:xmpp:omemo:2",                // OMEMO (XEP-0384 0.8+)
    "urn:xmpp:openpgp:0",              // XEP-0373
    "jabber:x:encrypted",              // XEP-0027
    "urn:xmpp:chat-markers:0",         // XEP-0333
    "urn:xmpp:reactions:0",            // XEP-0444
    "urn:xmpp:message-retract:1",      // XEP-0424
    "urn:xmpp:receipts",               // XEP-0184 (<received/> only: requests ride on bodies)
};

}  // namespace

bool archivable(const xml::Element& message) {
    const std::string_view type = message.attr("type");
    if (!(type.empty() || type == "chat" || type == "normal")) {
        return false;
    }
    const bool storeHint = message.findChild("store", ns::kHints) != nullptr;
    if (!storeHint && (message.findChild("no-store", ns::kHints) != nullptr ||
                       message.findChild("no-permanent-store", ns::kHints) != nullptr)) {
        return false;
    }
    if (message.findChildNs(ns::kCarbons) != nullptr || message.findChildNs(ns::kMam) != nullptr) {
        return false;
    }
    if (storeHint || message.findChild("body", ns::kClient) != nullptr) {
        return true;
    }
    for (const xml::Element* child : message.childElements()) {
        for (std::string_view payload : kConversationPayloads) {
            if (child->ns() == payload &&
                (payload != ns::kReceipts || child->name() == "received")) {
                return true;
            }
        }
    }
    return false;
}

std::string bodyText(const xml::Element& message) {
    const xml::Element* first = nullptr;
    for (const xml::Element* child : message.childElements()) {
        if (!child->is("body", ns::kClient)) {
            continue;
        }
        if (!child->hasAttr("lang", xml::kXmlNs)) {
            return child->text();
        }
        if (first == nullptr) {
            first = child;
        }
    }
    return first == nullptr ? std::string() : first->text();
}

bool stripStanzaIds(xml::Element& message, std::string_view by) {
    auto& children = message.children();
    const auto before = children.size();
    std::erase_if(children, [&](const xml::Node& node) {
        const auto* e = std::get_if<xml::Element>(&node);
        if (e == nullptr || !e->is("stanza-id", ns::kStanzaId)) {
            return false;
        }
        // Compared as prepared JIDs: "Juliet@Example.org" claims to be juliet@example.org.
        auto claimed = stanza::Jid::parse(e->attr("by"));
        return !claimed || claimed->full() == by;
    });
    return children.size() != before;
}

void stampStanzaId(xml::Element& message, std::string_view by, std::string id) {
    xml::Element& sid = message.addChild("stanza-id", ns::kStanzaId);
    sid.setAttr("by", std::string(by));
    sid.setAttr("id", std::move(id));
}

}  // namespace corvid::modules::mam
