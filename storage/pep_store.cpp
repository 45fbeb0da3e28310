#include "storage/pep_store.h"

#include <utility>

#include "storage/roster_store.h"

namespace corvid::storage {

namespace {

// storage/schema/008_pep.sql: the functions check the node limit and the publish options under
// a lock of the account row, and trim the node to max_items in the same transaction.
constexpr Statement kPublish{
    "pep_publish",
    "SELECT status, access_model, max_items, persist_items, send_last, created"
    " FROM pep_publish($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"};

// Who may be notified under the presence and open models (XEP-0163 §4.3.1: contacts with a
// subscription from or both); sent in the same batch as the write that notifies.
constexpr Statement kContacts{
    "pep_contacts",
    "SELECT r.jid FROM roster_items r JOIN accounts a ON a.id = r.account_id"
    " WHERE a.domain = $1 AND a.username = $2 AND r.subscription IN ('from', 'both')"};

constexpr Statement kRetract{
    "pep_retract",
    "WITH n AS (SELECT n.id, n.access_model, n.max_items, n.persist_items, n.send_last"
    " FROM pep_nodes n JOIN accounts a ON a.id = n.account_id"
    " WHERE a.domain = $1 AND a.username = $2 AND n.node = $3),"
    " d AS (DELETE FROM pep_items i USING n WHERE i.node_id = n.id AND i.item_id = $4"
    " RETURNING 1)"
    " SELECT n.access_model, n.max_items, n.persist_items, n.send_last, (SELECT count(*) FROM d)"
    " FROM n"};

// One row per item (or one with NULL item columns when the node is empty); no row when there is
// no such node. $5: the item ids asked for ('{}' for all), $6: how many at most (NULL: all).
constexpr Statement kItems{
    "pep_items",
    "SELECT n.access_model, n.max_items, n.persist_items, n.send_last,"
    " EXISTS (SELECT 1 FROM roster_items r WHERE r.account_id = a.id AND r.jid = $4"
    " AND r.subscription IN ('from', 'both')),"
    " i.item_id, i.payload, i.publisher"
    " FROM accounts a JOIN pep_nodes n ON n.account_id = a.id AND n.node = $3"
    " LEFT JOIN LATERAL (SELECT k.item_id, k.payload, k.publisher, k.seq FROM pep_items k"
    " WHERE k.node_id = n.id AND (cardinality($5::text[]) = 0 OR k.item_id = ANY ($5::text[]))"
    " ORDER BY k.seq DESC LIMIT $6) i ON true"
    " WHERE a.domain = $1 AND a.username = $2"
    " ORDER BY i.seq DESC"};

// XEP-0060 §8.5: every item of the node goes; no row when there is no such node.
constexpr Statement kPurge{
    "pep_purge",
    "WITH n AS (SELECT n.id, n.access_model, n.max_items, n.persist_items, n.send_last"
    " FROM pep_nodes n JOIN accounts a ON a.id = n.account_id"
    " WHERE a.domain = $1 AND a.username = $2 AND n.node = $3),"
    " d AS (DELETE FROM pep_items i USING n WHERE i.node_id = n.id RETURNING 1)"
    " SELECT n.access_model, n.max_items, n.persist_items, n.send_last, (SELECT count(*) FROM d)"
    " FROM n"};

constexpr Statement kCreate{"pep_create", "SELECT pep_create($1, $2, $3, $4, $5, $6, $7, $8)"};

constexpr Statement kDelete{
    "pep_delete",
    "DELETE FROM pep_nodes n USING accounts a"
    " WHERE a.id = n.account_id AND a.domain = $1 AND a.username = $2 AND n.node = $3"
    " RETURNING n.access_model, n.max_items, n.persist_items, n.send_last"};

constexpr Statement kConfigure{"pep_configure", "SELECT pep_configure($1, $2, $3, $4, $5, $6, $7)"};

// One row per node (one with NULL node columns for an account without nodes); none when there
// is no such account.
constexpr Statement kNodes{
    "pep_nodes",
    "SELECT n.node, n.access_model, n.max_items, n.persist_items, n.send_last,"
    " EXISTS (SELECT 1 FROM roster_items r WHERE r.account_id = a.id AND r.jid = $3"
    " AND r.subscription IN ('from', 'both'))"
    " FROM accounts a LEFT JOIN pep_nodes n ON n.account_id = a.id"
    " WHERE a.domain = $1 AND a.username = $2 ORDER BY n.node COLLATE \"C\""};

// XEP-0163 §6.2: the owners are the viewer's own account and the accounts whose roster gives it
// a subscription from/both (through the index roster_items_jid); whitelist nodes only to the
// owner. $5/$6 restrict it to one owner (a remote contact's presence reached that account).
constexpr Statement kLastFor{
    "pep_last_for",
    "WITH owners AS ("
    " SELECT r.account_id AS id, false AS own FROM roster_items r"
    " WHERE r.jid = $1 AND r.subscription IN ('from', 'both')"
    " UNION ALL SELECT a.id, true FROM accounts a WHERE a.domain = $3 AND a.username = $4)"
    " SELECT a.domain, a.username, n.node, i.item_id, i.payload, i.publisher"
    " FROM owners o JOIN accounts a ON a.id = o.id"
    " JOIN pep_nodes n ON n.account_id = o.id AND n.node = ANY ($2::text[])"
    " JOIN LATERAL (SELECT k.item_id, k.payload, k.publisher FROM pep_items k"
    " WHERE k.node_id = n.id ORDER BY k.seq DESC LIMIT 1) i ON true"
    " WHERE n.send_last <> 'never' AND (o.own OR (n.access_model IN ('presence', 'open')"
    // XEP-0191: an owner that blocks the viewer (its bare JID or its domain) sends it nothing.
    " AND NOT EXISTS (SELECT 1 FROM blocklist_items b WHERE b.account_id = o.id"
    " AND b.jid IN ($1, $3))))"
    " AND ($5::text IS NULL OR (a.domain = $5 AND a.username = $6))"
    " ORDER BY a.domain, a.username, n.node"};

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

Param optText(const std::optional<std::string>& v) {
    return v ? textParam(*v) : nullParam();
}

/// The configuration from four columns starting at `col`.
PepNodeConfig configAt(const QueryResult& r, int row, int col) {
    PepNodeConfig c;
    c.accessModel = std::string(r.text(row, col).value_or("presence"));
    c.maxItems = static_cast<int>(r.int64(row, col + 1).value_or(1));
    c.persistItems = r.boolean(row, col + 2).value_or(true);
    c.sendLast = std::string(r.text(row, col + 3).value_or("on_sub_and_presence"));
    return c;
}

std::vector<std::string> jids(const QueryResult& r) {
    std::vector<std::string> out;
    out.reserve(r.rows());
    for (int i = 0; i < r.rows(); ++i) {
        out.emplace_back(r.text(i, 0).value_or(""));
    }
    return out;
}

Params accountParams(std::string_view domain, std::string_view username) {
    return {textParam(domain), textParam(username)};
}

}  // namespace

void PepStore::publish(std::string_view domain, std::string_view username, std::string_view node,
                       PepItem item, const PepPublishOptions& options, int defaultMaxItems,
                       int maxNodes, Done<PepPublishResult> done) {
    std::vector<BatchItem> batch;
    batch.push_back(
        {kPublish,
         {textParam(domain), textParam(username), textParam(node), textParam(item.id),
          textParam(item.payload), textParam(item.publisher), optText(options.accessModel),
          options.maxItems ? intParam(*options.maxItems) : nullParam(),
          options.persistItems ? boolParam(*options.persistItems) : nullParam(),
          optText(options.sendLast), intParam(defaultMaxItems), intParam(maxNodes)}});
    batch.push_back({kContacts, accountParams(domain, username)});
    db_.executeBatch(std::move(batch), [done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(*r.error)));
            return;
        }
        const QueryResult& p = r.results[0];
        PepPublishResult out;
        const std::string_view status = p.text(0, 0).value_or("");
        if (status == "no_account") {
            out.status = PepPublishStatus::NoAccount;
        } else if (status == "too_many_nodes") {
            out.status = PepPublishStatus::TooManyNodes;
        } else if (status == "precondition") {
            out.status = PepPublishStatus::PreconditionNotMet;
            out.config = configAt(p, 0, 1);
        } else if (status == "published") {
            out.config = configAt(p, 0, 1);
            out.created = p.boolean(0, 5).value_or(false);
            out.contacts = jids(r.results[1]);
        } else {
            done(std::unexpected(StoreError{StoreErrorKind::Other, "pep_publish: no status"}));
            return;
        }
        done(std::move(out));
    });
}

void PepStore::retract(std::string_view domain, std::string_view username, std::string_view node,
                       std::string_view itemId, Done<PepRemoveResult> done) {
    removeWith(kRetract, domain, username,
               {textParam(domain), textParam(username), textParam(node), textParam(itemId)}, true,
               std::move(done));
}

void PepStore::purge(std::string_view domain, std::string_view username, std::string_view node,
                     Done<PepRemoveResult> done) {
    removeWith(kPurge, domain, username, {textParam(domain), textParam(username), textParam(node)},
               false, std::move(done));
}

void PepStore::removeWith(const Statement& statement, std::string_view domain,
                          std::string_view username, Params params, bool countsItem,
                          Done<PepRemoveResult> done) {
    std::vector<BatchItem> batch;
    batch.push_back({statement, std::move(params)});
    batch.push_back({kContacts, accountParams(domain, username)});
    db_.executeBatch(std::move(batch), [countsItem, done = std::move(done)](BatchResult r) mutable {
        if (!r.ok()) {
            done(std::unexpected(toStoreError(*r.error)));
            return;
        }
        const QueryResult& d = r.results[0];
        PepRemoveResult out;
        if (d.rows() == 0) {
            out.status = PepRemoveStatus::NoNode;
        } else {
            out.config = configAt(d, 0, 0);
            if (countsItem && d.int64(0, 4).value_or(0) == 0) {
                out.status = PepRemoveStatus::NoItem;
            } else {
                out.contacts = jids(r.results[1]);
            }
        }
        done(std::move(out));
    });
}

void PepStore::items(std::string_view domain, std::string_view username, std::string_view node,
                     std::string_view viewer, std::vector<std::string> itemIds,
                     std::optional<int> max, Done<PepNodeView> done) {
    db_.execute(kItems,
                {textParam(domain), textParam(username), textParam(node), textParam(viewer),
                 textParam(encodeTextArray(itemIds)), max ? intParam(*max) : nullParam()},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    PepNodeView view;
                    if (r.rows() == 0) {
                        done(std::move(view));
                        return;
                    }
                    view.exists = true;
                    view.config = configAt(r, 0, 0);
                    view.subscribed = r.boolean(0, 4).value_or(false);
                    for (int i = 0; i < r.rows(); ++i) {
                        if (r.isNull(i, 5)) {
                            continue;  // an empty node
                        }
                        view.items.push_back({std::string(r.text(i, 5).value_or("")),
                                              std::string(r.text(i, 6).value_or("")),
                                              std::string(r.text(i, 7).value_or(""))});
                    }
                    done(std::move(view));
                });
}

void PepStore::create(std::string_view domain, std::string_view username, std::string_view node,
                      const PepNodeConfig& config, int maxNodes, Done<PepCreateStatus> done) {
    db_.execute(kCreate,
                {textParam(domain), textParam(username), textParam(node),
                 textParam(config.accessModel), intParam(config.maxItems),
                 boolParam(config.persistItems), textParam(config.sendLast), intParam(maxNodes)},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    const std::string_view status = r.text(0, 0).value_or("");
                    if (status == "created") {
                        done(PepCreateStatus::Created);
                    } else if (status == "exists") {
                        done(PepCreateStatus::Exists);
                    } else if (status == "too_many_nodes") {
                        done(PepCreateStatus::TooManyNodes);
                    } else {
                        done(PepCreateStatus::NoAccount);
                    }
                });
}

void PepStore::remove(std::string_view domain, std::string_view username, std::string_view node,
                      Done<PepRemoveResult> done) {
    removeWith(kDelete, domain, username, {textParam(domain), textParam(username), textParam(node)},
               false, std::move(done));
}

void PepStore::configure(std::string_view domain, std::string_view username, std::string_view node,
                         const PepNodeConfig& config, Done<bool> done) {
    db_.execute(
        kConfigure,
        {textParam(domain), textParam(username), textParam(node), textParam(config.accessModel),
         intParam(config.maxItems), boolParam(config.persistItems), textParam(config.sendLast)},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
                return;
            }
            done(r.boolean(0, 0).value_or(false));
        });
}

void PepStore::nodes(std::string_view domain, std::string_view username, std::string_view viewer,
                     Done<std::pair<std::vector<PepNodeInfo>, bool>> done) {
    db_.execute(
        kNodes, {textParam(domain), textParam(username), textParam(viewer)},
        [done = std::move(done)](QueryResult r) mutable {
            if (!r.ok()) {
                done(std::unexpected(toStoreError(r.error())));
                return;
            }
            std::pair<std::vector<PepNodeInfo>, bool> out{{}, false};
            for (int i = 0; i < r.rows(); ++i) {
                out.second = r.boolean(i, 5).value_or(false);
                if (r.isNull(i, 0)) {
                    continue;
                }
                out.first.push_back({std::string(r.text(i, 0).value_or("")), configAt(r, i, 1)});
            }
            done(std::move(out));
        });
}

void PepStore::lastItemsFor(std::string_view viewer, std::vector<std::string> nodes,
                            std::optional<std::pair<std::string, std::string>> owner,
                            Done<std::vector<PepLastItem>> done) {
    // The viewer's own account: a bare JID local@domain (a domain JID has none).
    std::string_view local;
    std::string_view domain = viewer;
    if (auto at = viewer.find('@'); at != std::string_view::npos) {
        local = viewer.substr(0, at);
        domain = viewer.substr(at + 1);
    }
    db_.execute(kLastFor,
                {textParam(viewer), textParam(encodeTextArray(nodes)), textParam(domain),
                 textParam(local), owner ? textParam(owner->first) : nullParam(),
                 owner ? textParam(owner->second) : nullParam()},
                [done = std::move(done)](QueryResult r) mutable {
                    if (!r.ok()) {
                        done(std::unexpected(toStoreError(r.error())));
                        return;
                    }
                    std::vector<PepLastItem> out;
                    out.reserve(r.rows());
                    for (int i = 0; i < r.rows(); ++i) {
                        PepLastItem last;
                        last.owner = std::string(r.text(i, 1).value_or("")) + "@" +
                                     std::string(r.text(i, 0).value_or(""));
                        last.node = std::string(r.text(i, 2).value_or(""));
                        last.item = {std::string(r.text(i, 3).value_or("")),
                                     std::string(r.text(i, 4).value_or("")),
                                     std::string(r.text(i, 5).value_or(""))};
                        out.push_back(std::move(last));
                    }
                    done(std::move(out));
                });
}

}  // namespace corvid::storage
