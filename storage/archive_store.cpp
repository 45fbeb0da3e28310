#include "storage/archive_store.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "storage/roster_store.h"  // encodeTextArray, decodeTextArray

namespace corvid::storage {

namespace {

// One row per message in the order given ($1..$9 are parallel arrays; decision: 0 archive,
// 1 if in the roster, 2 by the stored preferences, $10 the default policy of accounts without).
// A message is kept when its account exists and its decision says so.
// The ids come from the server; ON CONFLICT guards against a clock that went back across a
// restart (the message is then reported as not archived rather than failing the whole batch).
constexpr Statement kStore{
    "archive_store_batch",
    "WITH m AS ("
    " SELECT u.ord, a.id AS account_id, u.id, u.with_jid, u.with_resource, u.outgoing, u.stanza,"
    "  NULLIF(u.body, '') AS body"
    " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::boolean[],"
    "  $7::text[], $8::text[], $9::int[])"
    "  WITH ORDINALITY AS u(domain, username, id, with_jid, with_resource, outgoing, stanza, body,"
    "   decision, ord)"
    " JOIN accounts a ON a.domain = u.domain AND a.username = u.username"
    " LEFT JOIN archive_prefs p ON u.decision = 2 AND p.account_id = a.id"
    " WHERE u.decision = 0"
    "  OR (u.decision = 2 AND u.with_jid = ANY (p.always_jids))"
    "  OR (NOT (u.decision = 2 AND coalesce(u.with_jid = ANY (p.never_jids), false))"
    "   AND (u.decision = 1 OR coalesce(p.default_policy, $10) <> 'never')"
    "   AND (u.decision = 2 AND coalesce(p.default_policy, $10) = 'always'"
    "    OR EXISTS (SELECT 1 FROM roster_items r"
    "     WHERE r.account_id = a.id AND r.jid = u.with_jid AND r.in_roster)))"
    "), ins AS ("
    " INSERT INTO archive_messages (account_id, id, with_jid, with_resource, outgoing, stanza,"
    "  body)"
    " SELECT account_id, id, with_jid, with_resource, outgoing, stanza, body FROM m ORDER BY ord"
    " ON CONFLICT DO NOTHING RETURNING account_id, id"
    ") SELECT m.ord FROM m JOIN ins ON ins.account_id = m.account_id AND ins.id = m.id"};

constexpr Statement kCountIds{
    "archive_count_ids",
    "SELECT count(*) FROM archive_messages WHERE account_id = (SELECT id FROM accounts"
    " WHERE domain = $1 AND username = $2) AND id = ANY ($3::bigint[])"};

constexpr Statement kBounds{
    "archive_bounds",
    "WITH a AS (SELECT id FROM accounts WHERE domain = $1 AND username = $2)"
    " SELECT (SELECT min(id) FROM archive_messages WHERE account_id = (SELECT id FROM a)),"
    "  (SELECT max(id) FROM archive_messages WHERE account_id = (SELECT id FROM a))"};

constexpr Statement kLoadPrefs{
    "archive_load_prefs",
    "SELECT a.domain, a.username, p.default_policy, p.always_jids, p.never_jids"
    " FROM archive_prefs p JOIN accounts a ON a.id = p.account_id"};

constexpr Statement kSetPrefs{
    "archive_set_prefs",
    "INSERT INTO archive_prefs (account_id, default_policy, always_jids, never_jids)"
    " SELECT id, $3, $4::text[], $5::text[] FROM accounts WHERE domain = $1 AND username = $2"
    " ON CONFLICT (account_id) DO UPDATE SET default_policy = EXCLUDED.default_policy,"
    "  always_jids = EXCLUDED.always_jids, never_jids = EXCLUDED.never_jids"};

constexpr Statement kExpire{"archive_expire",
                            "DELETE FROM archive_messages WHERE ctid = ANY (ARRAY("
                            " SELECT ctid FROM archive_messages WHERE id < $1 LIMIT $2))"};

// The page statements: one per combination of filters, so that each has a plan of its own (a
// single statement with "$n IS NULL OR ..." conditions would get a generic plan that uses no
// index well). Parameters: $1 domain, $2 username, $3 min id, $4 max id, $5 limit, then the
// optional ones in this order: with_jid, with_resource, ids, fulltext.
struct PageShape {
    bool with = false;
    bool resource = false;
    bool ids = false;
    bool fulltext = false;
    bool desc = false;

    int index() const {
        return (with ? 1 : 0) | (resource ? 2 : 0) | (ids ? 4 : 0) | (fulltext ? 8 : 0) |
               (desc ? 16 : 0);
    }
};

constexpr int kShapes = 32;

struct PageStatements {
    std::array<std::string, kShapes> names;
    std::array<std::string, kShapes> sql;
};

const PageStatements& pageStatements() {
    static const PageStatements statements = [] {
        PageStatements s;
        for (int i = 0; i < kShapes; ++i) {
            const PageShape shape{(i & 1) != 0, (i & 2) != 0, (i & 4) != 0, (i & 8) != 0,
                                  (i & 16) != 0};
            std::string sql =
                "SELECT id, outgoing, with_jid, stanza FROM archive_messages"
                " WHERE account_id = (SELECT id FROM accounts WHERE domain = $1 AND username = $2)"
                " AND id BETWEEN $3 AND $4";
            int n = 6;
            if (shape.with) {
                sql += " AND with_jid = $" + std::to_string(n++);
            }
            if (shape.resource) {
                sql += " AND with_resource = $" + std::to_string(n++);
            }
            if (shape.ids) {
                sql += " AND id = ANY ($" + std::to_string(n++) + "::bigint[])";
            }
            if (shape.fulltext) {
                sql +=
                    " AND body IS NOT NULL AND to_tsvector('simple', body) @@"
                    " websearch_to_tsquery('simple', $" +
                    std::to_string(n++) + ")";
            }
            sql += shape.desc ? " ORDER BY id DESC LIMIT $5" : " ORDER BY id LIMIT $5";
            s.names[i] = "archive_page_" + std::to_string(i);
            s.sql[i] = std::move(sql);
        }
        return s;
    }();
    return statements;
}

StoreError toStoreError(const DbError& e) {
    switch (e.kind) {
        case ErrorKind::Unavailable:
            return {StoreErrorKind::Unavailable, e.message};
        case ErrorKind::Timeout:
            return {StoreErrorKind::Timeout, e.message};
        default:
            return {StoreErrorKind::Other, e.message};
    }
}

Params keyParams(std::string_view domain, std::string_view username) {
    Params params;
    params.push_back(textParam(domain));
    params.push_back(textParam(username));
    return params;
}

std::string encodeIntArray(const std::vector<std::int64_t>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) {
            out += ',';
        }
        out += std::to_string(values[i]);
    }
    out += '}';
    return out;
}

std::string encodeBoolArray(const std::vector<bool>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) {
            out += ',';
        }
        out += values[i] ? 't' : 'f';
    }
    out += '}';
    return out;
}

}  // namespace

const char* toString(ArchivePolicy policy) {
    switch (policy) {
        case ArchivePolicy::Always:
            return "always";
        case ArchivePolicy::Never:
            return "never";
        case ArchivePolicy::Roster:
            return "roster";
    }
    return "always";
}

std::optional<ArchivePolicy> parseArchivePolicy(std::string_view text) {
    if (text == "always") {
        return ArchivePolicy::Always;
    }
    if (text == "never") {
        return ArchivePolicy::Never;
    }
    if (text == "roster") {
        return ArchivePolicy::Roster;
    }
    return std::nullopt;
}

void ArchiveStore::store(std::vector<ArchiveDraft> messages, ArchivePolicy defaultPolicy,
                         Done<std::vector<bool>> done) {
    std::vector<std::string> domains, usernames, withJids, withResources, stanzas, bodies;
    std::vector<std::int64_t> ids;
    std::vector<bool> outgoing;
    std::vector<std::int64_t> decisions;
    for (ArchiveDraft& m : messages) {
        domains.push_back(std::move(m.domain));
        usernames.push_back(std::move(m.username));
        ids.push_back(m.id);
        withJids.push_back(std::move(m.withJid));
        withResources.push_back(std::move(m.withResource));
        outgoing.push_back(m.outgoing);
        stanzas.push_back(std::move(m.stanza));
        bodies.push_back(std::move(m.body));
        decisions.push_back(static_cast<std::int64_t>(m.decision));
    }
    const std::size_t n = messages.size();
    messages.clear();
    Params params;
    params.push_back(textParam(encodeTextArray(domains)));
    params.push_back(textParam(encodeTextArray(usernames)));
    params.push_back(textParam(encodeIntArray(ids)));
    params.push_back(textParam(encodeTextArray(withJids)));
    params.push_back(textParam(encodeTextArray(withResources)));
    params.push_back(textParam(encodeBoolArray(outgoing)));
    params.push_back(textParam(encodeTextArray(stanzas)));
    params.push_back(textParam(encodeTextArray(bodies)));
    params.push_back(textParam(encodeIntArray(decisions)));
    params.push_back(textParam(toString(defaultPolicy)));
    db_.execute(kStore, std::move(params), [n, done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        std::vector<bool> archived(n, false);
        for (int row = 0; row < r.rows(); ++row) {
            auto ord = r.int64(row, 0);
            if (ord && *ord >= 1 && static_cast<std::size_t>(*ord) <= n) {
                archived[static_cast<std::size_t>(*ord - 1)] = true;
            }
        }
        done(std::move(archived));
    });
}

void ArchiveStore::query(std::string_view domain, std::string_view username,
                         ArchivePageRequest request, Done<ArchivePage> done) {
    const ArchiveFilter& f = request.filter;
    const PageShape shape{f.withJid.has_value(), f.withJid && f.withResource, !f.ids.empty(),
                          f.fulltext.has_value(), request.fromEnd};
    const PageStatements& statements = pageStatements();
    const Statement page{statements.names[shape.index()], statements.sql[shape.index()]};

    Params params = keyParams(domain, username);
    params.push_back(intParam(f.minId));
    params.push_back(intParam(f.maxId));
    params.push_back(intParam(request.max + 1));  // one more tells whether the page is the last
    if (shape.with) {
        params.push_back(textParam(*f.withJid));
    }
    if (shape.resource) {
        params.push_back(textParam(*f.withResource));
    }
    if (shape.ids) {
        params.push_back(textParam(encodeIntArray(f.ids)));
    }
    if (shape.fulltext) {
        params.push_back(textParam(*f.fulltext));
    }

    std::vector<std::int64_t> mustExist = std::move(request.mustExist);
    std::sort(mustExist.begin(), mustExist.end());
    mustExist.erase(std::unique(mustExist.begin(), mustExist.end()), mustExist.end());
    const std::size_t expected = mustExist.size();
    std::vector<BatchItem> batch;
    if (!mustExist.empty()) {
        Params check = keyParams(domain, username);
        check.push_back(textParam(encodeIntArray(mustExist)));
        batch.push_back({kCountIds, std::move(check)});
    }
    batch.push_back({page, std::move(params)});
    const int max = request.max;
    const bool fromEnd = request.fromEnd;
    db_.executeBatch(std::move(batch), [=, done = std::move(done)](BatchResult b) mutable {
        if (!b.ok()) {
            done(std::unexpected(toStoreError(*b.error)));
            return;
        }
        ArchivePage out;
        if (expected != 0 &&
            b.results.front().int64(0, 0).value_or(0) != static_cast<std::int64_t>(expected)) {
            out.unknownId = true;
            done(std::move(out));
            return;
        }
        const QueryResult& r = b.results.back();
        const int rows = r.rows();
        out.complete = rows <= max;
        for (int row = 0; row < std::min(rows, max); ++row) {
            auto id = r.int64(row, 0);
            auto outgoing = r.boolean(row, 1);
            auto with = r.text(row, 2);
            auto stanza = r.text(row, 3);
            if (!id || !outgoing || !with || !stanza) {
                continue;
            }
            out.messages.push_back(
                ArchivedMessage{*id, *outgoing, std::string(*with), std::string(*stanza)});
        }
        if (fromEnd) {
            std::reverse(out.messages.begin(), out.messages.end());
        }
        done(std::move(out));
    });
}

void ArchiveStore::bounds(std::string_view domain, std::string_view username,
                          Done<ArchiveBounds> done) {
    db_.execute(kBounds, keyParams(domain, username),
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    done(ArchiveBounds{r.int64(0, 0), r.int64(0, 1)});
                });
}

void ArchiveStore::loadAllPrefs(Done<std::vector<StoredArchivePrefs>> done) {
    db_.execute(kLoadPrefs, {}, [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        std::vector<StoredArchivePrefs> out;
        for (int row = 0; row < r.rows(); ++row) {
            auto domain = r.text(row, 0);
            auto username = r.text(row, 1);
            auto policy = r.text(row, 2);
            auto always = r.text(row, 3);
            auto never = r.text(row, 4);
            auto parsedPolicy = policy ? parseArchivePolicy(*policy) : std::nullopt;
            auto alwaysList = always ? decodeTextArray(*always) : std::nullopt;
            auto neverList = never ? decodeTextArray(*never) : std::nullopt;
            if (!domain || !username || !parsedPolicy || !alwaysList || !neverList) {
                continue;
            }
            out.push_back(StoredArchivePrefs{
                std::string(*domain), std::string(*username),
                ArchivePrefs{*parsedPolicy, std::move(*alwaysList), std::move(*neverList)}});
        }
        done(std::move(out));
    });
}

void ArchiveStore::setPrefs(std::string_view domain, std::string_view username,
                            const ArchivePrefs& prefs, Done<void> done) {
    Params params = keyParams(domain, username);
    params.push_back(textParam(toString(prefs.defaultPolicy)));
    params.push_back(textParam(encodeTextArray(prefs.always)));
    params.push_back(textParam(encodeTextArray(prefs.never)));
    db_.execute(kSetPrefs, std::move(params), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        if (r.affectedRows() == 0) {
            done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
            return;
        }
        done({});
    });
}

void ArchiveStore::expire(std::int64_t beforeId, int limit, Done<std::int64_t> done) {
    Params params;
    params.push_back(intParam(beforeId));
    params.push_back(intParam(limit));
    db_.execute(kExpire, std::move(params), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        done(static_cast<std::int64_t>(r.affectedRows()));
    });
}

}  // namespace corvid::storage
