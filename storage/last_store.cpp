#include "storage/last_store.h"

namespace corvid::storage {

namespace {

constexpr Statement kSet{"last_set",
                         "INSERT INTO last_activity (account_id, logout_at, status)"
                         " SELECT id, now(), $3 FROM accounts WHERE domain = $1 AND username = $2"
                         " ON CONFLICT (account_id) DO UPDATE"
                         " SET logout_at = EXCLUDED.logout_at, status = EXCLUDED.status"};

constexpr Statement kGet{
    "last_get",
    "SELECT GREATEST(0, floor(EXTRACT(EPOCH FROM now() - l.logout_at)))::bigint, l.status"
    " FROM last_activity l JOIN accounts a ON a.id = l.account_id"
    " WHERE a.domain = $1 AND a.username = $2"};

// One row per existing account: whether the viewer has a from/both subscription, and the
// logout (NULLs when none was recorded).
constexpr Statement kGetFor{
    "last_get_for",
    "SELECT EXISTS (SELECT 1 FROM roster_items r WHERE r.account_id = a.id AND r.jid = $3"
    " AND r.subscription IN ('from', 'both')),"
    // GREATEST ignores NULLs: without a logout the seconds must stay NULL.
    " CASE WHEN l.logout_at IS NOT NULL"
    " THEN GREATEST(0, floor(EXTRACT(EPOCH FROM now() - l.logout_at)))::bigint END, l.status"
    " FROM accounts a LEFT JOIN last_activity l ON l.account_id = a.id"
    " WHERE a.domain = $1 AND a.username = $2"};

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

}  // namespace

void LastStore::setLogout(std::string_view domain, std::string_view username,
                          std::string_view status, Done<void> done) {
    db_.execute(
        kSet, {textParam(domain), textParam(username), textParam(status)},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
            } else if (r.affectedRows() == 0) {
                done(std::unexpected(StoreError{StoreErrorKind::NotFound, "no such account"}));
            } else {
                done({});
            }
        });
}

void LastStore::get(std::string_view domain, std::string_view username,
                    Done<std::optional<LastActivity>> done) {
    db_.execute(kGet, {textParam(domain), textParam(username)},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    if (r.rows() == 0) {
                        done(std::optional<LastActivity>());
                        return;
                    }
                    LastActivity last;
                    last.seconds = r.int64(0, 0).value_or(0);
                    last.status = std::string(r.text(0, 1).value_or(""));
                    done(std::optional<LastActivity>(std::move(last)));
                });
}

void LastStore::getFor(std::string_view domain, std::string_view username, std::string_view viewer,
                       Done<LastActivityView> done) {
    db_.execute(kGetFor, {textParam(domain), textParam(username), textParam(viewer)},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    LastActivityView view;
                    if (r.rows() == 0 || r.boolean(0, 0) != true) {
                        done(std::move(view));  // no such account, or not allowed
                        return;
                    }
                    view.allowed = true;
                    if (auto seconds = r.int64(0, 1)) {
                        view.last = LastActivity{*seconds, std::string(r.text(0, 2).value_or(""))};
                    }
                    done(std::move(view));
                });
}

}  // namespace corvid::storage
