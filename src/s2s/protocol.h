#pragma once

#include <string>
#include <string_view>

#include "stanza/errors.h"
#include "xml/element.h"

namespace corvid::s2s {

/// The opening tag of a server stream (RFC 6120 §4.7), declaring the dialback prefix
/// (XEP-0220 §2.1). Empty attributes are left out.
std::string makeServerStreamHeader(std::string_view from, std::string_view to, std::string_view id);

/// <db:result/> and <db:verify/> (XEP-0220 §2.1.1, §2.3.1). `type` empty for a request; `key`
/// empty for an answer.
xml::Element makeDialbackResult(std::string_view from, std::string_view to, std::string_view type,
                                std::string_view key = {});
xml::Element makeDialbackVerify(std::string_view from, std::string_view to, std::string_view id,
                                std::string_view type, std::string_view key = {});
/// A dialback error answer (XEP-0220 §2.4): <db:result type='error'> (or verify) holding a
/// stanza error condition.
xml::Element makeDialbackError(const xml::Element& request, stanza::StanzaCondition condition,
                               std::string_view text = {});

/// The markup of a dialback element with the `db:` prefix the stream header declares
/// (`<db:result .../>`). COMPAT: ejabberd (fxml) matches the prefixed name literally and ignores
/// `<result xmlns='jabber:server:dialback'/>`, which is the same element to a namespace-aware
/// parser. Children are written in jabber:server, the stream's default namespace.
std::string serializeDialback(const xml::Element& element);

/// Stanzas enter the router in jabber:client whatever stream they came from: elements in
/// jabber:server (the stanza and its unqualified children) are moved to jabber:client. Stanza
/// content in other namespaces is left alone.
void toClientNamespace(xml::Element& stanza);

/// Whether `e` is a message, presence or iq in jabber:server.
bool isServerStanza(const xml::Element& e);

}  // namespace corvid::s2s
