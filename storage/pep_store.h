#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/account_store.h"
#include "storage/database.h"

namespace corvid::storage {

/// The configuration of one PEP node (XEP-0060 §16.4.3, the fields corvid keeps).
struct PepNodeConfig {
    std::string accessModel = "presence";  ///< pubsub#access_model: presence, open, whitelist
    int maxItems = 1;                      ///< pubsub#max_items
    bool persistItems = true;              ///< pubsub#persist_items
    std::string sendLast = "on_sub_and_presence";  ///< pubsub#send_last_published_item

    bool operator==(const PepNodeConfig&) const = default;
};

/// Publish options (XEP-0060 §7.1.5): the fields given, each a precondition on an existing
/// node and the configuration of one created by the publish.
struct PepPublishOptions {
    std::optional<std::string> accessModel;
    std::optional<int> maxItems;
    std::optional<bool> persistItems;
    std::optional<std::string> sendLast;
};

struct PepItem {
    std::string id;
    std::string payload;    ///< the payload element, serialised
    std::string publisher;  ///< full JID
};

enum class PepPublishStatus { Published, NoAccount, TooManyNodes, PreconditionNotMet };

struct PepPublishResult {
    PepPublishStatus status = PepPublishStatus::Published;
    PepNodeConfig config;  ///< the node's (Published, PreconditionNotMet)
    bool created = false;  ///< the publish created the node
    /// Bare JIDs with a presence subscription from the account (from/both): who may be notified
    /// under the presence and open models.
    std::vector<std::string> contacts;
};

/// A node's state as a requester sees it, for items, disco and configuration requests.
struct PepNodeView {
    bool exists = false;
    PepNodeConfig config;
    /// The requester has a subscription from/both in the owner's roster.
    bool subscribed = false;
    std::vector<PepItem> items;  ///< newest first
};

enum class PepRemoveStatus { Removed, NoNode, NoItem };

struct PepRemoveResult {
    PepRemoveStatus status = PepRemoveStatus::Removed;
    PepNodeConfig config;
    std::vector<std::string> contacts;  ///< as in PepPublishResult
};

enum class PepCreateStatus { Created, Exists, NoAccount, TooManyNodes };

struct PepNodeInfo {
    std::string node;
    PepNodeConfig config;
};

/// The last item of one node, for the delivery on presence (XEP-0163 §6.2).
struct PepLastItem {
    std::string owner;  ///< the owner's bare JID
    std::string node;
    PepItem item;
};

/// PEP nodes and items keyed by (domain, username, node); domain, username and every JID
/// prepared by the caller. Asynchronous: callbacks run later from the loop.
class PepStore {
  public:
    template <typename T>
    using Done = std::move_only_function<void(std::expected<T, StoreError>)>;

    explicit PepStore(Database& db) : db_(db) {}

    /// Publishes (or replaces) an item, creating the node with the options (and `defaultMaxItems`
    /// when max_items is not among them) if it does not exist and the account holds fewer than
    /// `maxNodes` nodes, then drops the oldest items beyond max_items. One round trip, one
    /// transaction.
    void publish(std::string_view domain, std::string_view username, std::string_view node,
                 PepItem item, const PepPublishOptions& options, int defaultMaxItems, int maxNodes,
                 Done<PepPublishResult> done);
    /// Removes one item (XEP-0060 §7.2).
    void retract(std::string_view domain, std::string_view username, std::string_view node,
                 std::string_view itemId, Done<PepRemoveResult> done);
    /// Removes every item of the node (XEP-0060 §8.5); NoItem is never given.
    void purge(std::string_view domain, std::string_view username, std::string_view node,
               Done<PepRemoveResult> done);
    /// The node as `viewer` (a bare JID) sees it, with its items: those named by `itemIds` when
    /// not empty, otherwise the `max` newest (all when std::nullopt).
    void items(std::string_view domain, std::string_view username, std::string_view node,
               std::string_view viewer, std::vector<std::string> itemIds, std::optional<int> max,
               Done<PepNodeView> done);
    void create(std::string_view domain, std::string_view username, std::string_view node,
                const PepNodeConfig& config, int maxNodes, Done<PepCreateStatus> done);
    /// Deletes the node with its items (XEP-0060 §8.4); NoItem is never given.
    void remove(std::string_view domain, std::string_view username, std::string_view node,
                Done<PepRemoveResult> done);
    /// Replaces the configuration, dropping items beyond the new max_items; false: no such node.
    void configure(std::string_view domain, std::string_view username, std::string_view node,
                   const PepNodeConfig& config, Done<bool> done);
    /// Every node of the account, in name order, and whether `viewer` is subscribed.
    void nodes(std::string_view domain, std::string_view username, std::string_view viewer,
               Done<std::pair<std::vector<PepNodeInfo>, bool>> done);
    /// The last item of each node among `nodes` that `viewer` (a bare JID) may see and that
    /// sends its last item on presence: of the viewer's own account, and of the local accounts
    /// that have the viewer in their roster with subscription from/both (presence and open
    /// models) and do not block it (XEP-0191: a blocklist entry of its bare JID or domain).
    /// With `owner` (domain, username), only that account's.
    void lastItemsFor(std::string_view viewer, std::vector<std::string> nodes,
                      std::optional<std::pair<std::string, std::string>> owner,
                      Done<std::vector<PepLastItem>> done);

  private:
    /// retract(), purge() and remove(): `statement` takes `params` (domain, username, node and,
    /// for retract, the item id) and returns the node's configuration when the node existed;
    /// with `countsItem`, a fifth column that is 0 when there was no such item.
    void removeWith(const Statement& statement, std::string_view domain, std::string_view username,
                    Params params, bool countsItem, Done<PepRemoveResult> done);

    Database& db_;
};

}  // namespace corvid::storage
