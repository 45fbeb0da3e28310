#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "stanza/errors.h"
#include "stanza/jid.h"
#include "storage/archive_store.h"
#include "xml/element.h"

namespace corvid::modules::mam {

/// Why a query was refused: the stanza error to answer with.
struct QueryError {
    stanza::StanzaCondition condition = stanza::StanzaCondition::BadRequest;
    std::string text;
};

/// An archive query (XEP-0313 §4) as the store runs it, whoever's archive it is (a user's, or a
/// room's for MUC): the form fields, the RSM set (XEP-0059) and <flip-page/>.
struct ArchiveQuery {
    std::string queryId;  ///< the 'queryid' attribute, echoed in every result
    storage::ArchivePageRequest request;
    bool flip = false;  ///< send the page newest first (urn:xmpp:mam:2#extended)
};

/// Parses <query xmlns='urn:xmpp:mam:2'/>. Pages hold at most `maxPage` messages (a larger RSM
/// <max/> is lowered to it, XEP-0059 §2.1); `fulltext` says whether the XEP-0431 field is
/// offered. Unknown fields get feature-not-implemented (XEP-0313 §4.1.5), malformed values
/// bad-request.
std::expected<ArchiveQuery, QueryError> parseQuery(const xml::Element& query, int maxPage,
                                                   bool fulltext);

/// The query form (XEP-0313 §4.1.5), answered to an iq get.
xml::Element queryForm(bool fulltext);

/// The <message/> that carries one result to `to` (XEP-0313 §4.2): from the archive, with the
/// stored message and its <delay/> inside <result><forwarded/></result>.
xml::Element resultMessage(const stanza::Jid& archive, const stanza::Jid& to,
                           std::string_view queryId, std::int64_t id, xml::Element message);

/// The <fin/> that ends a page: complete, stable, and the RSM <set/> with first and last.
xml::Element finElement(const storage::ArchivePage& page);

/// An archive UID as clients see it (decimal), and back; std::nullopt when it is not one we
/// could have issued.
std::string formatId(std::int64_t id);
std::optional<std::int64_t> parseId(std::string_view text);

/// A XEP-0082 DateTime ("2010-06-07T00:00:00Z", fractions and offsets allowed) in microseconds
/// since 1970; std::nullopt when malformed.
std::optional<std::int64_t> parseDateTime(std::string_view text);
/// Microseconds since 1970 as a XEP-0082 DateTime with microseconds, in UTC.
std::string formatDateTime(std::int64_t micros);

}  // namespace corvid::modules::mam
