#include <charconv>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "modules/blocking.h"
#include "modules/caps_cache.h"
#include "modules/disco.h"
#include "modules/module_registry.h"
#include "modules/private_storage_xml.h"  // storedXml, parseStoredXml
#include "modules/roster.h"               // replyError
#include "stanza/ns.h"
#include "storage/pep_store.h"
#include "util/log.h"
#include "util/random.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;
using router::HookResult;
using router::IqTarget;
using router::LocalSession;
using router::SessionId;
using router::StanzaContext;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;
using storage::PepNodeConfig;
using storage::PepPublishOptions;

constexpr std::string_view kPubsub = "http://jabber.org/protocol/pubsub";
constexpr std::string_view kPubsubOwner = "http://jabber.org/protocol/pubsub#owner";
constexpr std::string_view kPubsubEvent = "http://jabber.org/protocol/pubsub#event";
constexpr std::string_view kPubsubErrors = "http://jabber.org/protocol/pubsub#errors";
constexpr std::string_view kPublishOptionsForm =
    "http://jabber.org/protocol/pubsub#publish-options";
constexpr std::string_view kNodeConfigForm = "http://jabber.org/protocol/pubsub#node_config";
// XEP-0163 §4: "the node name with '+notify' appended" is how a client asks for notifications.
constexpr std::string_view kNotifySuffix = "+notify";

// XEP-0060 §10: what this PEP service does, advertised on every account's bare JID.
constexpr std::string_view kFeatures[] = {
    "access-open",
    "access-presence",
    "access-whitelist",
    "auto-create",
    "auto-subscribe",
    "config-node",
    "create-and-configure",
    "create-nodes",
    "delete-items",
    "delete-nodes",
    "filtered-notifications",
    "item-ids",
    "last-published",
    "persistent-items",
    "publish",
    "publish-options",
    "purge-nodes",
    "retract-items",
    "retrieve-default",
    "retrieve-items",
};

// Node names and item ids are opaque strings (XEP-0060 §4.1); a bound keeps rows reasonable.
constexpr std::size_t kMaxIdBytes = 1024;
// Entity capabilities of client software (XEP-0115), shared by every account.
constexpr std::size_t kCapsCacheSize = 10000;
// Available resources of remote contacts followed per account (their +notify features).
constexpr std::size_t kMaxRemotePerAccount = 4096;
// Writes of one account waiting for the database; more are refused (resource-constraint).
constexpr std::size_t kMaxQueuedWrites = 64;
// Before the presence module (50) and the other observers: presence is only looked at here.
constexpr int kObserverPriority = 9000;

/// The iq without its payload, for answers that should not echo a large request back.
xml::Element withoutPayload(const xml::Element& iq) {
    xml::Element shell(iq.name(), iq.nsHandle());
    shell.attributes() = iq.attributes();
    return shell;
}

std::optional<bool> parseBool(std::string_view v) {
    if (v == "1" || v == "true") {
        return true;
    }
    if (v == "0" || v == "false") {
        return false;
    }
    return std::nullopt;
}

/// The fields of a data form (XEP-0004) by var: the first value of each.
std::map<std::string, std::string> formValues(const xml::Element& x) {
    std::map<std::string, std::string> out;
    for (const xml::Element* field : x.childElements()) {
        if (field->is("field", ns::kDataForms)) {
            out.emplace(std::string(field->attr("var")), field->childText("value", ns::kDataForms));
        }
    }
    return out;
}

/// Reads the node configuration fields corvid knows (XEP-0060 §16.4.3) from a submitted form
/// into `out`; other fields are ignored. A value that cannot be used gives an error text.
/// max_items is capped at `ceiling` ("max" is the ceiling, XEP-0060 §16.4.3).
std::optional<std::string> readConfigForm(const xml::Element& x, std::string_view formType,
                                          int ceiling, PepPublishOptions& out) {
    auto values = formValues(x);
    if (auto it = values.find("FORM_TYPE"); it != values.end() && it->second != formType) {
        return "unexpected FORM_TYPE";
    }
    for (const auto& [var, value] : values) {
        if (var == "pubsub#access_model") {
            if (value != "presence" && value != "open" && value != "whitelist") {
                return "unsupported access model: " + value;
            }
            out.accessModel = value;
        } else if (var == "pubsub#max_items") {
            if (value == "max") {
                out.maxItems = ceiling;
                continue;
            }
            long long n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || end != value.data() + value.size() || n < 1) {
                return "pubsub#max_items must be a positive integer or 'max'";
            }
            out.maxItems = static_cast<int>(std::min<long long>(n, ceiling));
        } else if (var == "pubsub#persist_items") {
            auto b = parseBool(value);
            if (!b) {
                return "pubsub#persist_items must be a boolean";
            }
            out.persistItems = *b;
        } else if (var == "pubsub#send_last_published_item") {
            if (value != "never" && value != "on_sub" && value != "on_sub_and_presence") {
                return "unsupported pubsub#send_last_published_item: " + value;
            }
            out.sendLast = value;
        }
    }
    return std::nullopt;
}

PepNodeConfig merged(PepNodeConfig base, const PepPublishOptions& o) {
    if (o.accessModel) {
        base.accessModel = *o.accessModel;
    }
    if (o.maxItems) {
        base.maxItems = *o.maxItems;
    }
    if (o.persistItems) {
        base.persistItems = *o.persistItems;
    }
    if (o.sendLast) {
        base.sendLast = *o.sendLast;
    }
    return base;
}

/// The node configuration form (XEP-0060 §8.2.1).
xml::Element configForm(const PepNodeConfig& c, int ceiling) {
    xml::Element x("x", std::string(ns::kDataForms));
    x.setAttr("type", "form");
    auto field = [&](std::string_view var, std::string_view type, std::string_view label,
                     std::string_view value) -> xml::Element& {
        xml::Element& f = x.addChild("field");
        f.setAttr("var", std::string(var));
        f.setAttr("type", std::string(type));
        if (!label.empty()) {
            f.setAttr("label", std::string(label));
        }
        f.addTextChild("value", value);
        return f;
    };
    field("FORM_TYPE", "hidden", "", kNodeConfigForm);
    xml::Element& access =
        field("pubsub#access_model", "list-single", "Who may see the items", c.accessModel);
    for (const char* option : {"presence", "open", "whitelist"}) {
        access.addChild("option").addTextChild("value", option);
    }
    field("pubsub#max_items", "text-single",
          "Most items kept (at most " + std::to_string(ceiling) + ")", std::to_string(c.maxItems));
    field("pubsub#persist_items", "boolean", "Keep items", c.persistItems ? "1" : "0");
    xml::Element& last = field("pubsub#send_last_published_item", "list-single",
                               "When to send the last item", c.sendLast);
    for (const char* option : {"never", "on_sub", "on_sub_and_presence"}) {
        last.addChild("option").addTextChild("value", option);
    }
    return x;
}

bool notifies(const CapsCache::Features& features, std::string_view node) {
    return features && features->contains(std::string(node) + std::string(kNotifySuffix));
}

/// Personal eventing (XEP-0163) on the XEP-0060 subset clients use, at every account's bare
/// JID: publish (auto-create, publish-options), retract, items, create, delete and configure
/// of the owner's nodes; access models presence (the default), open and whitelist (owner only);
/// notifications filtered by the +notify features of entity capabilities (XEP-0115), which it
/// learns and caches (modules/caps_cache.h); the last item of each node on available presence.
/// Nodes and items in PostgreSQL (storage/pep_store.h). Contacts the owner blocks (XEP-0191)
/// get no notifications when the blocking module is enabled.
class PepModule final : public Module {
  public:
    explicit PepModule(ModuleContext& context)
        : router_(context.router),
          blocking_(context.find<BlockingModule>()),
          store_(context.database),
          caps_(context.router, kCapsCacheSize),
          maxNodes_(static_cast<int>(context.config.options.getInt("max_nodes"))),
          maxItems_(static_cast<int>(context.config.options.getInt("max_items"))),
          resourceKey_(router_.hooks().declareSlot<Resource>()) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.addIq(IqTarget::Account, std::string(kPubsub), "pubsub",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            LocalSession*) { handlePubsub(iq, from, to); }));
        hooks_.push_back(hooks.addIq(IqTarget::Account, std::string(kPubsubOwner), "pubsub",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            LocalSession*) { handleOwner(iq, from, to); }));
        // XEP-0163 §6.1 / XEP-0060 §5.2: the nodes are the account's disco#items, listed for
        // the disco module when it is enabled, answered here otherwise.
        router::IqHandler items = [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                         LocalSession*) { discoItems(iq, from, to); };
        if (AccountDiscoItems* disco = context.find<AccountDiscoItems>()) {
            hooks_.push_back(disco->listAccountItems(std::move(items)));
        } else {
            hooks_.push_back(hooks.addIq(IqTarget::Account, std::string(ns::kDiscoItems), "query",
                                         std::move(items)));
        }
        // The disco module adds the pubsub/pep identity when it sees these (XEP-0163 §6.1).
        hooks_.push_back(hooks.addFeature(IqTarget::Account, std::string(kPubsub)));
        for (std::string_view f : kFeatures) {
            hooks_.push_back(
                hooks.addFeature(IqTarget::Account, std::string(kPubsub) + "#" + std::string(f)));
        }
        hooks_.push_back(hooks.add(router::Event::OutboundFromLocal, kObserverPriority,
                                   [this](StanzaContext& c) {
                                       onLocalPresence(c);
                                       return HookResult::Pass;
                                   }));
        for (auto event : {router::Event::PresenceToBare, router::Event::PresenceToFull}) {
            hooks_.push_back(hooks.add(event, kObserverPriority, [this](StanzaContext& c) {
                onRemotePresence(c);
                return HookResult::Pass;
            }));
        }
        hooks_.push_back(
            hooks.onSession(router::SessionEvent::Closed, [this](LocalSession& s) { closed(s); }));
    }

  private:
    /// What corvid knows of one available resource: the caps ver of its presence and the nodes
    /// whose last item it has been sent already (XEP-0163 §6.2: once per +notify node).
    struct Resource {
        std::string ver;
        std::set<std::string> primed;
    };

    using Next = std::function<void()>;
    using Op = std::move_only_function<void(Next next)>;

    /// Runs `f` only while the module exists (database and iq callbacks may come later).
    template <typename F>
    auto guard(F f) {
        return [alive = std::weak_ptr<int>(alive_), f = std::move(f)](auto&&... args) mutable {
            if (!alive.expired()) {
                f(std::forward<decltype(args)>(args)...);
            }
        };
    }

    // --- one write at a time per account, so that publishes keep their order ---

    void enqueue(const xml::Element& iq, const Jid& owner, Op op) {
        auto& queue = queues_[owner];
        if (queue.size() >= kMaxQueuedWrites) {
            // A client pipelining writes faster than the database takes them waits.
            fail(withoutPayload(iq), StanzaCondition::ResourceConstraint, {},
                 "too many PEP writes in progress", ErrorType::Wait);
            return;
        }
        queue.push_back(std::move(op));
        if (queue.size() == 1) {
            runFront(owner);
        }
    }

    void runFront(const Jid& owner) {
        auto it = queues_.find(owner);
        if (it == queues_.end() || it->second.empty()) {
            return;
        }
        Op& op = it->second.front();
        op(guard([this, owner] {
            auto q = queues_.find(owner);
            if (q == queues_.end()) {
                return;
            }
            q->second.pop_front();
            if (q->second.empty()) {
                queues_.erase(q);
            } else {
                runFront(owner);
            }
        }));
    }

    // --- errors ---

    /// A stanza error with a pubsub#errors application condition (XEP-0060 §7.1.3 ...).
    void fail(const xml::Element& iq, StanzaCondition condition, std::string_view pubsubCondition,
              std::string_view text = {}, std::optional<ErrorType> type = std::nullopt,
              std::string_view feature = {}) {
        if (pubsubCondition.empty()) {
            replyError(router_, iq, condition, text, type);
            return;
        }
        xml::Element app{std::string(pubsubCondition), std::string(kPubsubErrors)};
        if (!feature.empty()) {
            app.setAttr("feature", std::string(feature));
        }
        replyError(router_, iq, condition, text, type, &app);
    }

    void unsupported(const xml::Element& iq, std::string_view feature) {
        fail(iq, StanzaCondition::FeatureNotImplemented, "unsupported", {}, ErrorType::Cancel,
             feature);
    }

    void storeFailed(const xml::Element& iq, const Jid& owner, const storage::StoreError& e) {
        log::warn("PEP of {}: {}", owner.full(), e.message);
        fail(iq, StanzaCondition::InternalServerError, {}, {}, ErrorType::Wait);
    }

    /// XEP-0060 §4.5, §6.5.9: the owner always; under the presence model contacts with a
    /// subscription from/both; under open anyone; under whitelist (no affiliations here) nobody
    /// else.
    static bool mayRead(const Jid& owner, const Jid& viewer, const PepNodeConfig& c,
                        bool subscribed) {
        if (viewer.bare() == owner) {
            return true;
        }
        if (c.accessModel == "open") {
            return true;
        }
        return c.accessModel == "presence" && subscribed;
    }

    void accessDenied(const xml::Element& iq, const PepNodeConfig& c) {
        if (c.accessModel == "presence") {
            // XEP-0060 §6.5.9.3 (and §6.1.3.2 for subscriptions).
            fail(iq, StanzaCondition::NotAuthorized, "presence-subscription-required", {},
                 ErrorType::Auth);
        } else {
            // XEP-0060 §6.5.9.6: a whitelist the requester is not on.
            fail(iq, StanzaCondition::NotAllowed, "closed-node", {}, ErrorType::Cancel);
        }
    }

    // --- http://jabber.org/protocol/pubsub ---

    void handlePubsub(const xml::Element& iq, const Jid& from, const Jid& to) {
        const xml::Element& pubsub = *iq.firstChildElement();
        const bool set = iq.attr("type") == "set";
        const xml::Element* action = nullptr;
        for (const xml::Element* child : pubsub.childElements()) {
            if (child->ns() == kPubsub && child->name() != "publish-options" &&
                child->name() != "configure") {
                action = child;
                break;
            }
        }
        if (action == nullptr) {
            fail(iq, StanzaCondition::BadRequest, {}, "no pubsub action");
            return;
        }
        const std::string& verb = action->name();
        if (verb == "items" && !set) {
            items(iq, from, to, *action);
        } else if (verb == "publish" && set) {
            publish(iq, from, to, pubsub, *action);
        } else if (verb == "retract" && set) {
            retract(iq, from, to, *action);
        } else if (verb == "create" && set) {
            create(iq, from, to, pubsub, *action);
        } else if (verb == "subscribe" || verb == "unsubscribe" || verb == "options") {
            // XEP-0163 §4: contacts get notifications through presence and +notify, not
            // explicit subscriptions.
            unsupported(iq, "subscribe");
        } else if (verb == "subscriptions") {
            unsupported(iq, "retrieve-subscriptions");
        } else if (verb == "affiliations") {
            unsupported(iq, "retrieve-affiliations");
        } else {
            fail(iq, StanzaCondition::BadRequest, {}, "unsupported pubsub request");
        }
    }

    bool ownerOnly(const xml::Element& iq, const Jid& from, const Jid& to) {
        // XEP-0163 §3: only the account itself publishes to (and manages) its PEP nodes.
        if (from.bare() != to) {
            fail(iq, StanzaCondition::Forbidden, {});
            return false;
        }
        return true;
    }

    /// The node attribute, checked; empty after an error was sent.
    std::string nodeOf(const xml::Element& iq, const xml::Element& action) {
        std::string node(action.attr("node"));
        if (node.empty()) {
            // XEP-0060 §7.1.3.3 and alike; instant nodes are not offered.
            fail(iq, StanzaCondition::BadRequest, "nodeid-required");
        } else if (node.size() > kMaxIdBytes) {
            fail(iq, StanzaCondition::NotAcceptable, {}, "node name too long");
            return {};
        }
        return node;
    }

    void publish(const xml::Element& iq, const Jid& from, const Jid& to, const xml::Element& pubsub,
                 const xml::Element& action) {
        if (!ownerOnly(iq, from, to)) {
            return;
        }
        std::string node = nodeOf(iq, action);
        if (node.empty()) {
            return;
        }
        std::vector<const xml::Element*> items;
        for (const xml::Element* c : action.childElements()) {
            if (c->is("item", kPubsub)) {
                items.push_back(c);
            }
        }
        // XEP-0060 §7.1.3.6: persistent nodes take exactly one item with exactly one payload.
        if (items.size() != 1) {
            fail(iq, StanzaCondition::BadRequest,
                 items.empty() ? "item-required" : "invalid-payload", "publish exactly one item");
            return;
        }
        const auto payloads = items.front()->childElements();
        if (payloads.size() != 1) {
            fail(iq, StanzaCondition::BadRequest,
                 payloads.empty() ? "payload-required" : "invalid-payload");
            return;
        }
        std::string id(items.front()->attr("id"));
        if (id.empty()) {
            id = util::randomId(16);  // XEP-0060 §7.1.2: the service names the item
        } else if (id.size() > kMaxIdBytes) {
            fail(iq, StanzaCondition::NotAcceptable, {}, "item id too long");
            return;
        }
        PepPublishOptions options;
        if (const xml::Element* po = pubsub.findChild("publish-options", kPubsub)) {
            if (const xml::Element* x = po->findChild("x", ns::kDataForms)) {
                // XEP-0060 §7.1.5: options that cannot be met are a failed precondition.
                if (auto bad = readConfigForm(*x, kPublishOptionsForm, maxItems_, options)) {
                    fail(iq, StanzaCondition::Conflict, "precondition-not-met", *bad);
                    return;
                }
            }
        }
        const xml::Element& payload = *payloads.front();
        storage::PepItem item{id, storedXml(payload), from.full()};
        enqueue(
            iq, to,
            [this, shell = withoutPayload(iq), from, to, node = std::move(node),
             item = std::move(item), options, payload = payload](Next next) mutable {
                store_.publish(
                    to.domain(), to.local(), node, item, options, 1, maxNodes_,
                    guard([this, shell = std::move(shell), from, to, node, id = item.id,
                           payload = std::move(payload),
                           next](std::expected<storage::PepPublishResult, storage::StoreError> r) {
                        next();
                        if (!r) {
                            storeFailed(shell, to, r.error());
                            return;
                        }
                        switch (r->status) {
                            case storage::PepPublishStatus::NoAccount:
                                fail(shell, StanzaCondition::ItemNotFound, {});
                                return;
                            case storage::PepPublishStatus::TooManyNodes:
                                fail(shell, StanzaCondition::PolicyViolation, {},
                                     "at most " + std::to_string(maxNodes_) + " nodes per account");
                                return;
                            case storage::PepPublishStatus::PreconditionNotMet:
                                fail(shell, StanzaCondition::Conflict, "precondition-not-met",
                                     "the node's configuration differs from the publish options");
                                return;
                            case storage::PepPublishStatus::Published:
                                break;
                        }
                        xml::Element answer("pubsub", std::string(kPubsub));
                        xml::Element& p = answer.addChild("publish");
                        p.setAttr("node", node);
                        p.addChild("item").setAttr("id", id);
                        replyResult(router_, shell, from, to, std::move(answer));

                        xml::Element event("items", std::string(kPubsubEvent));
                        event.setAttr("node", node);
                        xml::Element& it = event.addChild("item");
                        it.setAttr("id", id);
                        it.addChild(std::move(payload));
                        notify(to, node, r->config, r->contacts, event);
                    }));
            });
    }

    /// The answer to a retract, delete or purge once the store is done: item-not-found when
    /// there was nothing to remove, else a result and `event` notified to those who may see the
    /// node.
    auto afterRemoval(const xml::Element& iq, const Jid& from, const Jid& to,
                      const std::string& node, xml::Element event, Next next) {
        return guard([this, iq, from, to, node, event = std::move(event), next = std::move(next)](
                         std::expected<storage::PepRemoveResult, storage::StoreError> r) {
            next();
            if (!r) {
                storeFailed(iq, to, r.error());
                return;
            }
            if (r->status != storage::PepRemoveStatus::Removed) {
                fail(iq, StanzaCondition::ItemNotFound, {});
                return;
            }
            replyResult(router_, iq, from, to);
            notify(to, node, r->config, r->contacts, event);
        });
    }

    void retract(const xml::Element& iq, const Jid& from, const Jid& to,
                 const xml::Element& action) {
        if (!ownerOnly(iq, from, to)) {
            return;
        }
        std::string node = nodeOf(iq, action);
        if (node.empty()) {
            return;
        }
        const xml::Element* item = action.findChild("item", kPubsub);
        if (item == nullptr || item->attr("id").empty()) {
            fail(iq, StanzaCondition::BadRequest, "item-required");  // XEP-0060 §7.2.3.3
            return;
        }
        std::string id(item->attr("id"));
        // XEP-0060 §7.2.2.1: retractions are notified (pubsub#notify_retract is always on here);
        // nothing to retract is item-not-found (§7.2.3.5).
        xml::Element items("items", std::string(kPubsubEvent));
        items.setAttr("node", node);
        items.addChild("retract").setAttr("id", id);
        enqueue(iq, to, [this, iq, from, to, node, id, items](Next next) {
            store_.retract(to.domain(), to.local(), node, id,
                           afterRemoval(iq, from, to, node, items, std::move(next)));
        });
    }

    void items(const xml::Element& iq, const Jid& from, const Jid& to, const xml::Element& action) {
        std::string node = nodeOf(iq, action);
        if (node.empty()) {
            return;
        }
        std::vector<std::string> ids;
        for (const xml::Element* c : action.childElements()) {
            if (c->is("item", kPubsub) && !c->attr("id").empty()) {
                ids.emplace_back(c->attr("id"));
            }
        }
        std::optional<int> max;
        if (action.hasAttr("max_items")) {
            const std::string_view v = action.attr("max_items");
            int n = 0;
            auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec != std::errc() || end != v.data() + v.size() || n < 0) {
                fail(iq, StanzaCondition::BadRequest, {}, "max_items must be a number");
                return;
            }
            max = n;
        }
        store_.items(to.domain(), to.local(), node, from.bare().full(), std::move(ids), max,
                     guard([this, iq, from, to,
                            node](std::expected<storage::PepNodeView, storage::StoreError> r) {
                         if (!r) {
                             storeFailed(iq, to, r.error());
                             return;
                         }
                         if (!r->exists) {
                             fail(iq, StanzaCondition::ItemNotFound, {});  // XEP-0060 §6.5.9.11
                             return;
                         }
                         if (!mayRead(to, from, r->config, r->subscribed)) {
                             accessDenied(iq, r->config);
                             return;
                         }
                         xml::Element answer("pubsub", std::string(kPubsub));
                         xml::Element& items = answer.addChild("items");
                         items.setAttr("node", node);
                         for (const auto& stored : r->items) {
                             xml::Element item("item", std::string(kPubsub));
                             item.setAttr("id", stored.id);
                             if (auto payload = parseStoredXml(stored.payload)) {
                                 item.addChild(std::move(*payload));
                             } else {
                                 log::warn("PEP of {}: item {} of {} does not parse", to.full(),
                                           stored.id, node);
                                 continue;
                             }
                             items.addChild(std::move(item));
                         }
                         replyResult(router_, iq, from, to, std::move(answer));
                     }));
    }

    void create(const xml::Element& iq, const Jid& from, const Jid& to, const xml::Element& pubsub,
                const xml::Element& action) {
        if (!ownerOnly(iq, from, to)) {
            return;
        }
        std::string node = nodeOf(iq, action);
        if (node.empty()) {
            return;
        }
        PepPublishOptions options;
        if (const xml::Element* conf = pubsub.findChild("configure", kPubsub)) {
            if (const xml::Element* x = conf->findChild("x", ns::kDataForms)) {
                if (auto bad = readConfigForm(*x, kNodeConfigForm, maxItems_, options)) {
                    // XEP-0060 §8.1.3: a configuration the service cannot accept.
                    fail(iq, StanzaCondition::NotAcceptable, "unsupported-access-model", *bad);
                    return;
                }
            }
        }
        const PepNodeConfig config = merged(PepNodeConfig{}, options);
        enqueue(iq, to, [this, iq, from, to, node, config](Next next) {
            store_.create(
                to.domain(), to.local(), node, config, maxNodes_,
                guard([this, iq, from, to,
                       next](std::expected<storage::PepCreateStatus, storage::StoreError> r) {
                    next();
                    if (!r) {
                        storeFailed(iq, to, r.error());
                        return;
                    }
                    switch (*r) {
                        case storage::PepCreateStatus::Created:
                            replyResult(router_, iq, from, to);
                            return;
                        case storage::PepCreateStatus::Exists:
                            fail(iq, StanzaCondition::Conflict, {});  // §7.1.3.?
                            return;
                        case storage::PepCreateStatus::TooManyNodes:
                            fail(iq, StanzaCondition::PolicyViolation, {},
                                 "at most " + std::to_string(maxNodes_) + " nodes per account");
                            return;
                        case storage::PepCreateStatus::NoAccount:
                            fail(iq, StanzaCondition::ItemNotFound, {});
                            return;
                    }
                }));
        });
    }

    // --- http://jabber.org/protocol/pubsub#owner ---

    void handleOwner(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (!ownerOnly(iq, from, to)) {
            return;
        }
        const xml::Element* action = iq.firstChildElement()->firstChildElement();
        if (action == nullptr || action->ns() != kPubsubOwner) {
            fail(iq, StanzaCondition::BadRequest, {}, "no pubsub#owner action");
            return;
        }
        const bool set = iq.attr("type") == "set";
        const std::string& verb = action->name();
        if (verb == "default" && !set) {
            // XEP-0060 §8.3: the configuration a new node gets.
            xml::Element answer("pubsub", std::string(kPubsubOwner));
            answer.addChild("default").addChild(configForm(PepNodeConfig{}, maxItems_));
            replyResult(router_, iq, from, to, std::move(answer));
            return;
        }
        if (verb != "configure" && verb != "delete" && verb != "purge") {
            unsupported(iq, "config-node");
            return;
        }
        std::string node = nodeOf(iq, *action);
        if (node.empty()) {
            return;
        }
        if (verb == "delete" && set) {
            deleteNode(iq, from, to, node);
        } else if (verb == "purge" && set) {
            purgeNode(iq, from, to, node);
        } else if (verb == "configure" && !set) {
            getConfig(iq, from, to, node);
        } else if (verb == "configure") {
            setConfig(iq, from, to, node, *action);
        } else {
            fail(iq, StanzaCondition::BadRequest, {});
        }
    }

    void getConfig(const xml::Element& iq, const Jid& from, const Jid& to, std::string node) {
        store_.items(to.domain(), to.local(), node, to.full(), {}, 0,
                     guard([this, iq, from, to,
                            node](std::expected<storage::PepNodeView, storage::StoreError> r) {
                         if (!r) {
                             storeFailed(iq, to, r.error());
                             return;
                         }
                         if (!r->exists) {
                             fail(iq, StanzaCondition::ItemNotFound, {});
                             return;
                         }
                         xml::Element answer("pubsub", std::string(kPubsubOwner));
                         xml::Element& c = answer.addChild("configure");
                         c.setAttr("node", node);
                         c.addChild(configForm(r->config, maxItems_));
                         replyResult(router_, iq, from, to, std::move(answer));
                     }));
    }

    void setConfig(const xml::Element& iq, const Jid& from, const Jid& to, std::string node,
                   const xml::Element& action) {
        const xml::Element* x = action.findChild("x", ns::kDataForms);
        if (x == nullptr) {
            fail(iq, StanzaCondition::BadRequest, {}, "no configuration form");
            return;
        }
        if (x->attr("type") == "cancel") {
            replyResult(router_, iq, from, to);  // XEP-0060 §8.2.4
            return;
        }
        PepPublishOptions options;
        if (auto bad = readConfigForm(*x, kNodeConfigForm, maxItems_, options)) {
            fail(iq, StanzaCondition::NotAcceptable, {}, *bad);  // XEP-0060 §8.2.5.3
            return;
        }
        // Fields left out keep their values: read the current configuration first, in the
        // account's queue so that no other write comes between.
        enqueue(iq, to, [this, iq, from, to, node, options](Next next) {
            store_.items(to.domain(), to.local(), node, to.full(), {}, 0,
                         guard([this, iq, from, to, node, options,
                                next](std::expected<storage::PepNodeView, storage::StoreError> r) {
                             if (!r || !r->exists) {
                                 next();
                                 if (!r) {
                                     storeFailed(iq, to, r.error());
                                 } else {
                                     fail(iq, StanzaCondition::ItemNotFound, {});
                                 }
                                 return;
                             }
                             store_.configure(
                                 to.domain(), to.local(), node, merged(r->config, options),
                                 guard([this, iq, from, to,
                                        next](std::expected<bool, storage::StoreError> done) {
                                     next();
                                     if (!done) {
                                         storeFailed(iq, to, done.error());
                                     } else if (!*done) {
                                         fail(iq, StanzaCondition::ItemNotFound, {});
                                     } else {
                                         replyResult(router_, iq, from, to);
                                     }
                                 }));
                         }));
        });
    }

    void deleteNode(const xml::Element& iq, const Jid& from, const Jid& to, std::string node) {
        // XEP-0060 §8.4.2: those who were notified of the node hear of its end; no such node is
        // item-not-found (§8.4.3.2).
        xml::Element del("delete", std::string(kPubsubEvent));
        del.setAttr("node", node);
        enqueue(iq, to, [this, iq, from, to, node, del](Next next) {
            store_.remove(to.domain(), to.local(), node,
                          afterRemoval(iq, from, to, node, del, std::move(next)));
        });
    }

    /// XEP-0060 §8.5 (nbxmpp purges the avatar data node when an avatar is removed): notified
    /// (§8.5.2); no such node is item-not-found (§8.5.3.3).
    void purgeNode(const xml::Element& iq, const Jid& from, const Jid& to, std::string node) {
        xml::Element purge("purge", std::string(kPubsubEvent));
        purge.setAttr("node", node);
        enqueue(iq, to, [this, iq, from, to, node, purge](Next next) {
            store_.purge(to.domain(), to.local(), node,
                         afterRemoval(iq, from, to, node, purge, std::move(next)));
        });
    }

    // --- disco#items on the account (XEP-0060 §5.2, §5.5) ---

    void discoItems(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (iq.attr("type") != "get") {
            fail(iq, StanzaCondition::NotAllowed, {}, "disco#items is get only");
            return;
        }
        std::string node(iq.firstChildElement()->attr("node"));
        if (!node.empty()) {
            // The items of one node, by id (XEP-0060 §5.5), to those who may read them.
            store_.items(to.domain(), to.local(), node, from.bare().full(), {}, std::nullopt,
                         guard([this, iq, from, to,
                                node](std::expected<storage::PepNodeView, storage::StoreError> r) {
                             if (!r) {
                                 storeFailed(iq, to, r.error());
                                 return;
                             }
                             if (!r->exists || !mayRead(to, from, r->config, r->subscribed)) {
                                 fail(iq, StanzaCondition::ItemNotFound, {});
                                 return;
                             }
                             xml::Element query("query", std::string(ns::kDiscoItems));
                             query.setAttr("node", node);
                             for (const auto& item : r->items) {
                                 xml::Element& e = query.addChild("item");
                                 e.setAttr("jid", to.full());
                                 e.setAttr("name", item.id);
                             }
                             replyResult(router_, iq, from, to, std::move(query));
                         }));
            return;
        }
        // The nodes the requester may read; an account that does not exist has none (the
        // answer looks the same as for one without nodes).
        store_.nodes(to.domain(), to.local(), from.bare().full(),
                     guard([this, iq, from,
                            to](std::expected<std::pair<std::vector<storage::PepNodeInfo>, bool>,
                                              storage::StoreError>
                                    r) {
                         if (!r) {
                             storeFailed(iq, to, r.error());
                             return;
                         }
                         xml::Element query("query", std::string(ns::kDiscoItems));
                         for (const auto& n : r->first) {
                             if (mayRead(to, from, n.config, r->second)) {
                                 xml::Element& e = query.addChild("item");
                                 e.setAttr("jid", to.full());
                                 e.setAttr("node", n.node);
                             }
                         }
                         replyResult(router_, iq, from, to, std::move(query));
                     }));
    }

    // --- notifications (XEP-0163 §4.3, XEP-0060 §7.1.2.1) ---

    bool resourceNotifies(std::string_view ver, std::string_view node) {
        return !ver.empty() && notifies(caps_.find(ver), node);
    }

    /// The available resources that get an event of `owner`'s `node`: the owner's own, and,
    /// unless the node is whitelisted, those of the contacts with a subscription from/both
    /// (`contacts`), each only if its caps carry node+notify (XEP-0163 §4.3.1 filtering).
    std::vector<Jid> recipients(const Jid& owner, std::string_view node, const PepNodeConfig& c,
                                const std::vector<std::string>& contacts) {
        std::vector<Jid> out;
        auto addLocal = [&](const Jid& bare) {
            for (LocalSession* s : router_.sessions().resources(bare)) {
                const Resource* resource = s->findSlot(resourceKey_);
                if (s->availability().available && resource != nullptr &&
                    resourceNotifies(resource->ver, node)) {
                    out.push_back(s->jid());
                }
            }
        };
        addLocal(owner);
        if (c.accessModel == "whitelist") {
            return out;
        }
        auto remote = remote_.find(owner);
        for (const auto& text : contacts) {
            auto contact = Jid::parse(text);
            if (!contact || *contact == owner) {
                continue;
            }
            if (router_.isLocalDomain(contact->domain())) {
                addLocal(*contact);
            } else if (remote != remote_.end()) {
                for (const auto& [full, resource] : remote->second) {
                    if (full.bare() == *contact && resourceNotifies(resource.ver, node)) {
                        out.push_back(full);
                    }
                }
            }
        }
        // XEP-0191 §3.3: nothing goes to a blocked contact (full, bare or domain entry; the
        // owner's list is in memory, it has a session since only the owner writes).
        if (blocking_ != nullptr) {
            std::erase_if(out, [&](const Jid& to) { return blocking_->isBlocked(owner, to); });
        }
        return out;
    }

    void sendEvent(const Jid& owner, const Jid& to, const xml::Element& eventChild) {
        xml::Element message("message", std::string(ns::kClient));
        message.setAttr("type", "headline");  // XEP-0163 §4.3.2
        message.setAttr("from", owner.full());
        message.setAttr("to", to.full());
        message.setAttr("id", util::randomId(12));
        message.addChild("event", kPubsubEvent).addChild(eventChild);
        router_.route(std::move(message));
    }

    void notify(const Jid& owner, std::string_view node, const PepNodeConfig& c,
                const std::vector<std::string>& contacts, const xml::Element& eventChild) {
        for (const Jid& to : recipients(owner, node, c, contacts)) {
            sendEvent(owner, to, eventChild);
        }
    }

    /// XEP-0163 §6.2: the last item of each node among `fresh` that `resource` may see, from the
    /// owners the store finds (own account and local contacts, or `owner` only).
    void sendLastItems(const Jid& resource, std::vector<std::string> fresh,
                       std::optional<Jid> owner) {
        std::optional<std::pair<std::string, std::string>> only;
        if (owner) {
            only.emplace(std::string(owner->domain()), std::string(owner->local()));
        }
        store_.lastItemsFor(
            resource.bare().full(), std::move(fresh), std::move(only),
            guard([this, resource](
                      std::expected<std::vector<storage::PepLastItem>, storage::StoreError> r) {
                if (!r) {
                    log::warn("PEP: last items for {}: {}", resource.full(), r.error().message);
                    return;
                }
                for (auto& last : *r) {
                    auto from = Jid::parse(last.owner);
                    auto payload = parseStoredXml(last.item.payload);
                    if (!from || !payload) {
                        continue;
                    }
                    xml::Element items("items", std::string(kPubsubEvent));
                    items.setAttr("node", last.node);
                    xml::Element& it = items.addChild("item");
                    it.setAttr("id", last.item.id);
                    it.addChild(std::move(*payload));
                    sendEvent(*from, resource, items);
                }
            }));
    }

    /// The +notify nodes of `features` not primed yet for this resource (and now primed).
    static std::vector<std::string> freshNodes(Resource& r, const CapsCache::Features& features) {
        std::vector<std::string> fresh;
        for (const auto& f : *features) {
            if (f.size() > kNotifySuffix.size() && f.ends_with(kNotifySuffix)) {
                std::string node = f.substr(0, f.size() - kNotifySuffix.size());
                if (r.primed.insert(node).second) {
                    fresh.push_back(std::move(node));
                }
            }
        }
        return fresh;
    }

    // --- presence: who is available, with which caps ---

    /// Broadcast presence of a local resource (RFC 6121 §4.2, §4.4): its caps say which nodes it
    /// wants; once they are known, the last items it has not had yet go to it.
    void onLocalPresence(const StanzaContext& ctx) {
        const xml::Element& stanza = ctx.stanza;
        if (ctx.origin == nullptr || stanza.name() != "presence" || stanza.hasAttr("to")) {
            return;
        }
        const std::string_view type = stanza.attr("type");
        const SessionId id = ctx.origin->id();
        if (type == "unavailable") {
            ctx.origin->clearSlot(resourceKey_);
            return;
        }
        if (!type.empty()) {
            return;
        }
        auto caps = capsOf(stanza);
        Resource& resource = ctx.origin->slot(resourceKey_);
        resource.ver = caps ? caps->ver : std::string();
        if (!caps) {
            return;
        }
        const Jid full = ctx.origin->jid();
        auto server = Jid::parse(full.domain());
        if (!server) {
            return;
        }
        caps_.resolve(*caps, full, *server,
                      guard([this, id, full, ver = caps->ver](CapsCache::Features features) {
                          LocalSession* session = router_.sessions().findById(id);
                          Resource* current =
                              session != nullptr ? session->findSlot(resourceKey_) : nullptr;
                          if (!features || current == nullptr || current->ver != ver) {
                              return;  // unknown caps, gone, or a newer presence since
                          }
                          auto fresh = freshNodes(*current, features);
                          if (!fresh.empty()) {
                              sendLastItems(full, std::move(fresh), std::nullopt);
                          }
                      }));
    }

    /// Presence of a remote contact's resource to a local account (XEP-0163 §4.3.1: the PEP
    /// service learns of its contacts' resources from their presence). Local contacts are found
    /// through the session registry instead.
    void onRemotePresence(const StanzaContext& ctx) {
        const Jid& from = ctx.from;
        if (!from.hasResource() || router_.isLocalDomain(from.domain())) {
            return;
        }
        const Jid owner = ctx.to.bare();
        const std::string_view type = ctx.stanza.attr("type");
        if (type == "unavailable" || type == "error") {
            if (auto it = remote_.find(owner); it != remote_.end()) {
                it->second.erase(from);
                if (it->second.empty()) {
                    remote_.erase(it);
                }
            }
            return;
        }
        if (!type.empty() || router_.sessions().resources(owner).empty()) {
            return;
        }
        auto caps = capsOf(ctx.stanza);
        auto& known = remote_[owner];
        if (!known.contains(from) && known.size() >= kMaxRemotePerAccount) {
            return;
        }
        Resource& resource = known[from];
        resource.ver = caps ? caps->ver : std::string();
        if (!caps) {
            return;
        }
        auto server = Jid::parse(owner.domain());
        if (!server) {
            return;
        }
        caps_.resolve(*caps, from, *server,
                      guard([this, owner, from, ver = caps->ver](CapsCache::Features features) {
                          auto o = remote_.find(owner);
                          if (!features || o == remote_.end()) {
                              return;
                          }
                          auto it = o->second.find(from);
                          if (it == o->second.end() || it->second.ver != ver) {
                              return;
                          }
                          auto fresh = freshNodes(it->second, features);
                          if (!fresh.empty()) {
                              sendLastItems(from, std::move(fresh), owner);
                          }
                      }));
    }

    void closed(LocalSession& session) {
        const Jid bare = session.jid().bare();
        if (router_.sessions().resources(bare).empty()) {
            // Contacts' presence stops reaching an account without resources.
            remote_.erase(bare);
        }
    }

    router::Router& router_;
    BlockingModule* blocking_;
    storage::PepStore store_;
    CapsCache caps_;
    const int maxNodes_;
    const int maxItems_;
    /// A local resource's caps and the nodes it has had the last items of.
    router::SlotKey<Resource> resourceKey_;
    std::unordered_map<Jid, std::map<Jid, Resource>> remote_;
    std::unordered_map<Jid, std::deque<Op>> queues_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

const ModuleRegistrar kRegistrar({
    .name = "pep",
    .section = "pep",
    .needs = {Need::optional<BlockingModule>(), Need::optional<AccountDiscoItems>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<PepModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
