#pragma once

#include <string>
#include <string_view>

#include "xml/element.h"

namespace corvid::modules::mam {

/// XEP-0313 §5.1.1 and XEP-0334: whether a one-to-one message belongs in a user archive. Types
/// chat and normal only (no groupchat, headline or error); never what a <no-store/> or
/// <no-permanent-store/> hint excludes unless a <store/> hint overrides it; then a <body/>, a
/// <store/> hint, or a payload of the conversation without a body: end-to-end encrypted messages
/// (OMEMO, OpenPGP), chat markers (XEP-0333), receipts (XEP-0184), reactions (XEP-0444),
/// retractions (XEP-0424). Chat states alone are not kept, nor carbons or archive results
/// (what the server itself wraps).
bool archivable(const xml::Element& message);

/// The <body/> text for full-text search (the first one without xml:lang, else the first).
std::string bodyText(const xml::Element& message);

/// XEP-0359 §3.1: removes every <stanza-id/> whose 'by' is `by` (the archive's JID, prepared),
/// which only the archive itself may add, and those whose 'by' is not a JID at all; true when one
/// was removed.
bool stripStanzaIds(xml::Element& message, std::string_view by);

/// Adds <stanza-id xmlns='urn:xmpp:sid:0' by=`by` id=`id`/>.
void stampStanzaId(xml::Element& message, std::string_view by, std::string id);

}  // namespace corvid::modules::mam
