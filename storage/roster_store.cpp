#include "storage/roster_store.h"

#include <utility>

namespace corvid::storage {

namespace {

// LEFT JOINs: an account with an empty roster still gives one row (with a NULL jid), so that "no
// such account" (no row) can be told apart from "no contacts".
constexpr Statement kLoad{
    "roster_load",
    "SELECT a.id, COALESCE(v.version, 0), r.jid, r.name, r.groups, r.subscription, r.ask_out,"
    " r.pending_in, r.approved, r.in_roster, r.pending_stanza"
    " FROM accounts a"
    " LEFT JOIN roster_versions v ON v.account_id = a.id"
    " LEFT JOIN roster_items r ON r.account_id = a.id"
    " WHERE a.domain = $1 AND a.username = $2"
    " ORDER BY r.jid COLLATE \"C\""};

constexpr Statement kPut{
    "roster_put",
    "INSERT INTO roster_items (account_id, jid, name, groups, subscription, ask_out, pending_in,"
    " approved, in_roster, pending_stanza)"
    " VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (account_id, jid) DO UPDATE SET name = EXCLUDED.name, groups = EXCLUDED.groups,"
    " subscription = EXCLUDED.subscription, ask_out = EXCLUDED.ask_out,"
    " pending_in = EXCLUDED.pending_in, approved = EXCLUDED.approved,"
    " in_roster = EXCLUDED.in_roster, pending_stanza = EXCLUDED.pending_stanza"};

constexpr Statement kRemove{"roster_remove",
                            "DELETE FROM roster_items WHERE account_id = $1 AND jid = $2"};

constexpr Statement kBumpVersion{
    "roster_bump_version",
    "INSERT INTO roster_versions (account_id, version) VALUES ($1, 1)"
    " ON CONFLICT (account_id) DO UPDATE SET version = roster_versions.version + 1"
    " RETURNING version"};

constexpr Statement kGetVersion{
    "roster_get_version",
    "SELECT COALESCE((SELECT version FROM roster_versions WHERE account_id = $1), 0)"};

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

StoreError malformed(std::string what) {
    return {StoreErrorKind::Other, "malformed roster row: " + std::move(what)};
}

// The version statement goes last in the batch; its single value is the answer.
void finishWrite(BatchResult r, RosterStore::Done<std::int64_t>& done) {
    if (!r.ok()) {
        done(std::unexpected(toStoreError(*r.error)));
        return;
    }
    auto version = r.results.back().int64(0, 0);
    if (!version) {
        done(std::unexpected(StoreError{StoreErrorKind::Other, "no roster version returned"}));
        return;
    }
    done(*version);
}

BatchItem versionItem(std::int64_t accountId, bool bump) {
    Params params;
    params.push_back(intParam(accountId));
    return {bump ? kBumpVersion : kGetVersion, std::move(params)};
}

}  // namespace

std::string_view toString(Subscription subscription) {
    switch (subscription) {
        case Subscription::None:
            return "none";
        case Subscription::To:
            return "to";
        case Subscription::From:
            return "from";
        case Subscription::Both:
            return "both";
    }
    return "none";
}

std::optional<Subscription> subscriptionFromString(std::string_view text) {
    if (text == "none") {
        return Subscription::None;
    }
    if (text == "to") {
        return Subscription::To;
    }
    if (text == "from") {
        return Subscription::From;
    }
    if (text == "both") {
        return Subscription::Both;
    }
    return std::nullopt;
}

std::string encodeTextArray(const std::vector<std::string>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) {
            out += ',';
        }
        out += '"';
        for (char c : values[i]) {
            if (c == '"' || c == '\\') {
                out += '\\';
            }
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

std::optional<std::vector<std::string>> decodeTextArray(std::string_view text) {
    // array_out: elements are quoted when empty, when they hold any of {}",\ or white space, or
    // when they read NULL; inside quotes " and \ are backslash-escaped.
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
        return std::nullopt;
    }
    std::vector<std::string> out;
    std::size_t i = 1;
    const std::size_t end = text.size() - 1;
    if (i == end) {
        return out;
    }
    while (true) {
        std::string value;
        if (i < end && text[i] == '"') {
            ++i;
            while (true) {
                if (i >= end) {
                    return std::nullopt;
                }
                char c = text[i++];
                if (c == '"') {
                    break;
                }
                if (c == '\\') {
                    if (i >= end) {
                        return std::nullopt;
                    }
                    c = text[i++];
                }
                value += c;
            }
        } else {
            const std::size_t start = i;
            while (i < end && text[i] != ',') {
                if (text[i] == '{' || text[i] == '}' || text[i] == '"') {
                    return std::nullopt;
                }
                ++i;
            }
            value.assign(text.substr(start, i - start));
            if (value.empty() || value == "NULL") {
                return std::nullopt;  // no NULLs (nor a second dimension) in our arrays
            }
        }
        out.push_back(std::move(value));
        if (i == end) {
            return out;
        }
        if (text[i] != ',') {
            return std::nullopt;
        }
        ++i;
    }
}

void RosterStore::load(std::string_view domain, std::string_view username,
                       Done<std::optional<Roster>> done) {
    Params params;
    params.push_back(textParam(domain));
    params.push_back(textParam(username));
    db_.execute(kLoad, std::move(params), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        if (r.rows() == 0) {
            done(std::optional<Roster>());
            return;
        }
        Roster roster;
        roster.accountId = r.int64(0, 0).value_or(0);
        roster.version = r.int64(0, 1).value_or(0);
        for (int row = 0; row < r.rows(); ++row) {
            auto jid = r.text(row, 2);
            if (!jid) {
                continue;  // the LEFT JOIN's row of an empty roster
            }
            RosterItem item;
            item.jid = std::string(*jid);
            if (auto name = r.text(row, 3)) {
                item.name = std::string(*name);
            }
            auto groups = decodeTextArray(r.text(row, 4).value_or(""));
            auto subscription = subscriptionFromString(r.text(row, 5).value_or(""));
            auto askOut = r.boolean(row, 6);
            auto pendingIn = r.boolean(row, 7);
            auto approved = r.boolean(row, 8);
            auto inRoster = r.boolean(row, 9);
            if (!groups || !subscription || !askOut || !pendingIn || !approved || !inRoster) {
                done(std::unexpected(malformed(item.jid)));
                return;
            }
            item.groups = std::move(*groups);
            item.subscription = *subscription;
            item.askOut = *askOut;
            item.pendingIn = *pendingIn;
            item.approved = *approved;
            item.inRoster = *inRoster;
            item.pendingStanza = std::string(r.text(row, 10).value_or(""));
            roster.items.push_back(std::move(item));
        }
        done(std::optional<Roster>(std::move(roster)));
    });
}

void RosterStore::put(std::int64_t accountId, const RosterItem& item, bool bumpVersion,
                      Done<std::int64_t> done) {
    Params params;
    params.reserve(10);
    params.push_back(intParam(accountId));
    params.push_back(textParam(item.jid));
    params.push_back(item.name ? textParam(*item.name) : nullParam());
    params.push_back(textParam(encodeTextArray(item.groups)));
    params.push_back(textParam(toString(item.subscription)));
    params.push_back(boolParam(item.askOut));
    params.push_back(boolParam(item.pendingIn));
    params.push_back(boolParam(item.approved));
    params.push_back(boolParam(item.inRoster));
    params.push_back(item.pendingIn ? textParam(item.pendingStanza) : nullParam());
    std::vector<BatchItem> batch;
    batch.push_back({kPut, std::move(params)});
    batch.push_back(versionItem(accountId, bumpVersion));
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        finishWrite(std::move(r), done);
    });
}

void RosterStore::remove(std::int64_t accountId, std::string_view jid, bool bumpVersion,
                         Done<std::int64_t> done) {
    Params params;
    params.push_back(intParam(accountId));
    params.push_back(textParam(jid));
    std::vector<BatchItem> batch;
    batch.push_back({kRemove, std::move(params)});
    batch.push_back(versionItem(accountId, bumpVersion));
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        finishWrite(std::move(r), done);
    });
}

}  // namespace corvid::storage
