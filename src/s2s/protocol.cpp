#include "s2s/protocol.h"

#include "stanza/ns.h"
#include "xml/serializer.h"

namespace corvid::s2s {

namespace ns = stanza::ns;

std::string makeServerStreamHeader(std::string_view from, std::string_view to,
                                   std::string_view id) {
    std::string out =
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'";
    auto attr = [&out](std::string_view name, std::string_view value) {
        if (!value.empty()) {
            out += ' ';
            out += name;
            out += "='";
            xml::escapeAttr(value, out);
            out += '\'';
        }
    };
    attr("from", from);
    attr("to", to);
    attr("id", id);
    out += " version='1.0'>";
    return out;
}

xml::Element makeDialbackResult(std::string_view from, std::string_view to, std::string_view type,
                                std::string_view key) {
    xml::Element e("result", std::string(ns::kDialback));
    e.setAttr("from", std::string(from));
    e.setAttr("to", std::string(to));
    if (!type.empty()) {
        e.setAttr("type", std::string(type));
    }
    if (!key.empty()) {
        e.addText(key);
    }
    return e;
}

xml::Element makeDialbackVerify(std::string_view from, std::string_view to, std::string_view id,
                                std::string_view type, std::string_view key) {
    xml::Element e("verify", std::string(ns::kDialback));
    e.setAttr("from", std::string(from));
    e.setAttr("to", std::string(to));
    e.setAttr("id", std::string(id));
    if (!type.empty()) {
        e.setAttr("type", std::string(type));
    }
    if (!key.empty()) {
        e.addText(key);
    }
    return e;
}

xml::Element makeDialbackError(const xml::Element& request, stanza::StanzaCondition condition,
                               std::string_view text) {
    xml::Element e(request.name(), std::string(ns::kDialback));
    // The answer goes back: our 'from' is the request's 'to'.
    e.setAttr("from", std::string(request.attr("to")));
    e.setAttr("to", std::string(request.attr("from")));
    if (request.hasAttr("id")) {
        e.setAttr("id", std::string(request.attr("id")));
    }
    e.setAttr("type", "error");
    xml::Element& error = e.addChild("error", ns::kServer);
    error.setAttr("type", std::string(stanza::toString(stanza::defaultErrorType(condition))));
    error.addChild(std::string(stanza::toString(condition)), ns::kStanzas);
    error.addTextChild("text", text.empty() ? stanza::defaultText(condition) : text, ns::kStanzas)
        .setAttr("lang", "en", xml::kXmlNs);
    return e;
}

std::string serializeDialback(const xml::Element& element) {
    std::string out = "<db:";
    out += element.name();
    for (const auto& a : element.attributes()) {
        if (!a.ns.empty()) {
            continue;  // dialback elements carry only from, to, id and type
        }
        out += ' ';
        out += a.name;
        out += "='";
        xml::escapeAttr(a.value, out);
        out += '\'';
    }
    if (element.children().empty()) {
        out += "/>";
        return out;
    }
    out += '>';
    for (const auto& child : element.children()) {
        if (const auto* text = std::get_if<std::string>(&child)) {
            xml::escapeText(*text, out);
        } else {
            xml::serialize(std::get<xml::Element>(child), out,
                           xml::SerializeScope{ns::kServer, true});
        }
    }
    out += "</db:";
    out += element.name();
    out += '>';
    return out;
}

namespace {

void moveNamespace(xml::Element& e) {
    if (e.ns() != ns::kServer) {
        return;  // a payload in its own namespace: its children are not ours to change
    }
    e.setNs(xml::Ns(ns::kClient));
    for (auto& child : e.children()) {
        if (auto* el = std::get_if<xml::Element>(&child)) {
            moveNamespace(*el);
        }
    }
}

}  // namespace

void toClientNamespace(xml::Element& stanza) {
    moveNamespace(stanza);
}

bool isServerStanza(const xml::Element& e) {
    const std::string& name = e.name();
    return e.ns() == ns::kServer && (name == "message" || name == "presence" || name == "iq");
}

}  // namespace corvid::s2s
