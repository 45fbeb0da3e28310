#include "storage/muc_store.h"

#include <cassert>
#include <utility>

#include "storage/roster_store.h"  // encodeTextArray, decodeTextArray

namespace corvid::storage {

namespace {

constexpr Statement kLoadRoom{
    "muc_load_room",
    // The configuration columns in the order of addConfigParams() and recordAt().
    "SELECT title, description, public, members_only, password, moderated, whois, max_users,"
    " history_length, change_subject, allow_invites, member_list_roles, allow_pm, subject,"
    " subject_nick, (extract(epoch FROM subject_at) * 1000)::bigint"
    " FROM muc_rooms WHERE service = $1 AND name = $2"};

constexpr Statement kLoadAffiliations{
    "muc_load_affiliations",
    "SELECT a.jid, a.affiliation, coalesce(a.nick, ''), a.reason"
    " FROM muc_affiliations a JOIN muc_rooms r ON r.id = a.room_id"
    " WHERE r.service = $1 AND r.name = $2 ORDER BY a.jid COLLATE \"C\""};

// save(): the room row replaced (its affiliations go by cascade), then the new affiliations.
constexpr Statement kDeleteRoom{"muc_delete_room",
                                "DELETE FROM muc_rooms WHERE service = $1 AND name = $2"};

constexpr Statement kInsertRoom{
    "muc_insert_room",
    "WITH r AS (INSERT INTO muc_rooms (service, name, title, description, public, members_only,"
    " password, moderated, whois, max_users, history_length, change_subject, allow_invites,"
    " member_list_roles, allow_pm, subject, subject_nick, subject_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text[], $15, $16, $17,"
    " to_timestamp($18::bigint / 1000.0)) RETURNING id)"
    " INSERT INTO muc_affiliations (room_id, jid, affiliation, nick, reason)"
    " SELECT r.id, u.jid, u.affiliation, nullif(u.nick, ''), u.reason"
    " FROM r, unnest($19::text[], $20::text[], $21::text[], $22::text[])"
    " AS u(jid, affiliation, nick, reason)"};

constexpr Statement kSaveConfig{
    "muc_save_config",
    "UPDATE muc_rooms SET title = $3, description = $4, public = $5, members_only = $6,"
    " password = $7, moderated = $8, whois = $9, max_users = $10, history_length = $11,"
    " change_subject = $12, allow_invites = $13, member_list_roles = $14::text[], allow_pm = $15"
    " WHERE service = $1 AND name = $2"};

constexpr Statement kSaveSubject{
    "muc_save_subject",
    "UPDATE muc_rooms SET subject = $3, subject_nick = $4, subject_at = to_timestamp($5 / 1000.0)"
    " WHERE service = $1 AND name = $2"};

// One affiliation change: 'none' deletes the row, anything else inserts or replaces it. The
// first column is 0 when the room is not stored.
constexpr Statement kSetAffiliation{
    "muc_set_affiliation",
    "WITH r AS (SELECT id FROM muc_rooms WHERE service = $1 AND name = $2),"
    " d AS (DELETE FROM muc_affiliations a USING r"
    " WHERE a.room_id = r.id AND a.jid = $3 AND $4 = 'none' RETURNING 1),"
    " u AS (INSERT INTO muc_affiliations (room_id, jid, affiliation, nick, reason)"
    " SELECT r.id, $3, $4, nullif($5, ''), $6 FROM r WHERE $4 <> 'none'"
    " ON CONFLICT (room_id, jid) DO UPDATE SET affiliation = EXCLUDED.affiliation,"
    " nick = EXCLUDED.nick, reason = EXCLUDED.reason RETURNING 1)"
    " SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM d) + (SELECT count(*) FROM u)"};

constexpr Statement kPublicRooms{
    "muc_public_rooms",
    "SELECT name, title FROM muc_rooms WHERE service = $1 AND public ORDER BY name COLLATE \"C\""};

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

/// The configuration columns as parameters (13 of them).
void addConfigParams(Params& p, const MucRoomRecord& r) {
    p.push_back(textParam(r.title));
    p.push_back(textParam(r.description));
    p.push_back(boolParam(r.isPublic));
    p.push_back(boolParam(r.membersOnly));
    p.push_back(textParam(r.password));
    p.push_back(boolParam(r.moderated));
    p.push_back(textParam(r.whois));
    p.push_back(intParam(r.maxUsers));
    p.push_back(intParam(r.historyLength));
    p.push_back(boolParam(r.changeSubject));
    p.push_back(boolParam(r.allowInvites));
    p.push_back(textParam(encodeTextArray(r.memberListRoles)));
    p.push_back(textParam(r.allowPm));
}

std::string textAt(const QueryResult& r, int row, int col) {
    return std::string(r.text(row, col).value_or(""));
}

MucRoomRecord recordAt(const QueryResult& r, int row) {
    MucRoomRecord m;
    m.title = textAt(r, row, 0);
    m.description = textAt(r, row, 1);
    m.isPublic = r.boolean(row, 2).value_or(true);
    m.membersOnly = r.boolean(row, 3).value_or(false);
    m.password = textAt(r, row, 4);
    m.moderated = r.boolean(row, 5).value_or(false);
    m.whois = textAt(r, row, 6);
    m.maxUsers = static_cast<int>(r.int64(row, 7).value_or(0));
    m.historyLength = static_cast<int>(r.int64(row, 8).value_or(0));
    m.changeSubject = r.boolean(row, 9).value_or(false);
    m.allowInvites = r.boolean(row, 10).value_or(false);
    m.memberListRoles =
        decodeTextArray(r.text(row, 11).value_or("{}")).value_or(std::vector<std::string>{});
    m.allowPm = textAt(r, row, 12);
    m.subject = textAt(r, row, 13);
    m.subjectNick = textAt(r, row, 14);
    m.subjectAtMs = r.int64(row, 15);
    return m;
}

Params roomParams(std::string_view service, std::string_view name) {
    return {textParam(service), textParam(name)};
}

}  // namespace

void MucStore::load(std::string_view service, std::string_view name,
                    Done<std::optional<MucStoredRoom>> done) {
    std::vector<BatchItem> batch;
    batch.push_back({kLoadRoom, roomParams(service, name)});
    batch.push_back({kLoadAffiliations, roomParams(service, name)});
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(*r.error)));
            return;
        }
        const QueryResult& room = r.results[0];
        if (room.rows() == 0) {
            done(std::optional<MucStoredRoom>());
            return;
        }
        MucStoredRoom out;
        out.room = recordAt(room, 0);
        const QueryResult& a = r.results[1];
        out.affiliations.reserve(a.rows());
        for (int i = 0; i < a.rows(); ++i) {
            out.affiliations.push_back(
                {textAt(a, i, 0), textAt(a, i, 1), textAt(a, i, 2), textAt(a, i, 3)});
        }
        done(std::optional<MucStoredRoom>(std::move(out)));
    });
}

void MucStore::save(std::string_view service, std::string_view name, const MucStoredRoom& room,
                    Done<void> done) {
    Params p = roomParams(service, name);
    addConfigParams(p, room.room);
    p.push_back(textParam(room.room.subject));
    p.push_back(textParam(room.room.subjectNick));
    p.push_back(room.room.subjectAtMs ? intParam(*room.room.subjectAtMs) : nullParam());
    std::vector<std::string> jids, affiliations, nicks, reasons;
    for (const auto& a : room.affiliations) {
        jids.push_back(a.jid);
        affiliations.push_back(a.affiliation);
        nicks.push_back(a.nick);
        reasons.push_back(a.reason);
    }
    for (const auto* column : {&jids, &affiliations, &nicks, &reasons}) {
        p.push_back(textParam(encodeTextArray(*column)));
    }
    std::vector<BatchItem> batch;
    batch.push_back({kDeleteRoom, roomParams(service, name)});
    batch.push_back({kInsertRoom, std::move(p)});
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(*r.error)));
            return;
        }
        done({});
    });
}

void MucStore::saveConfig(std::string_view service, std::string_view name,
                          const MucRoomRecord& room, Done<bool> done) {
    Params p = roomParams(service, name);
    addConfigParams(p, room);
    db_.execute(kSaveConfig, std::move(p), [done = std::move(done)](QueryResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(r.error())));
            return;
        }
        done(r.affectedRows() > 0);
    });
}

void MucStore::saveSubject(std::string_view service, std::string_view name,
                           std::string_view subject, std::string_view nick, std::int64_t atMs,
                           Done<bool> done) {
    db_.execute(
        kSaveSubject,
        {textParam(service), textParam(name), textParam(subject), textParam(nick), intParam(atMs)},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
                return;
            }
            done(r.affectedRows() > 0);
        });
}

void MucStore::setAffiliations(std::string_view service, std::string_view name,
                               std::vector<MucAffiliationRecord> changes,
                               Done<MucWriteStatus> done) {
    assert(!changes.empty());
    std::vector<BatchItem> batch;
    batch.reserve(changes.size());
    for (const auto& c : changes) {
        batch.push_back({kSetAffiliation,
                         {textParam(service), textParam(name), textParam(c.jid),
                          textParam(c.affiliation), textParam(c.nick), textParam(c.reason)}});
    }
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            if (r.error->sqlState == kUniqueViolation) {
                done(MucWriteStatus::NickTaken);
                return;
            }
            done(std::unexpected(toStoreError(*r.error)));
            return;
        }
        for (const auto& q : r.results) {
            if (q.int64(0, 0).value_or(0) == 0) {
                done(MucWriteStatus::NoRoom);
                return;
            }
        }
        done(MucWriteStatus::Written);
    });
}

void MucStore::remove(std::string_view service, std::string_view name, Done<bool> done) {
    db_.execute(kDeleteRoom, roomParams(service, name),
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    done(r.affectedRows() > 0);
                });
}

void MucStore::publicRooms(std::string_view service, Done<std::vector<MucListedRoom>> done) {
    db_.execute(kPublicRooms, {textParam(service)},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    std::vector<MucListedRoom> out;
                    out.reserve(r.rows());
                    for (int i = 0; i < r.rows(); ++i) {
                        out.push_back({textAt(r, i, 0), textAt(r, i, 1)});
                    }
                    done(std::move(out));
                });
}

}  // namespace corvid::storage
