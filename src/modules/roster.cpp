#include "modules/roster.h"

#include <algorithm>
#include <set>

#include "modules/module_registry.h"
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::modules {

using router::LocalSession;
using stanza::Jid;
using stanza::StanzaCondition;
using storage::RosterItem;
using storage::Subscription;
namespace ns = stanza::ns;

namespace {

// RFC 6121 §2.3.3 lets the server bound names and groups (not-acceptable beyond).
constexpr std::size_t kMaxNameBytes = 1023;
constexpr std::size_t kMaxGroupBytes = 1023;
constexpr std::size_t kMaxGroupsPerItem = 64;

/// What a client sees of an item changed (pending-in state and the stored request are hidden).
bool visibleChange(const RosterItem* before, const RosterItem& after) {
    const bool wasVisible = before != nullptr && before->inRoster;
    if (!wasVisible || !after.inRoster) {
        return wasVisible != after.inRoster;
    }
    return before->name != after.name || before->groups != after.groups ||
           before->subscription != after.subscription || before->askOut != after.askOut ||
           before->approved != after.approved;
}

xml::Element removedItemElement(std::string_view jid) {
    xml::Element item("item", std::string(ns::kRoster));
    item.setAttr("jid", std::string(jid));
    item.setAttr("subscription", "remove");
    return item;
}

xml::Element presenceStanza(std::string_view type, const Jid& from, const Jid& to) {
    xml::Element p("presence", std::string(ns::kClient));
    if (!type.empty()) {
        p.setAttr("type", std::string(type));
    }
    p.setAttr("from", from.full());
    p.setAttr("to", to.full());
    return p;
}

}  // namespace

// --- shared helpers ---

void replyError(router::Router& router, const xml::Element& original, StanzaCondition condition,
                std::string_view text, std::optional<stanza::ErrorType> type,
                const xml::Element* appCondition) {
    if (stanza::isErrorStanza(original)) {
        return;
    }
    stanza::StanzaErrorOptions options;
    options.type = type;
    options.appCondition = appCondition;
    xml::Element error = stanza::makeStanzaError(original, condition, text, options);
    if (auto sender = Jid::parse(original.attr("from"))) {
        if (!error.hasAttr("from")) {
            // No 'to' on the original: it was for the sender's own account (RFC 6120 §10.3).
            error.setAttr("from", sender->bare().full());
        }
    }
    router.route(std::move(error), nullptr);
}

namespace {

const ModuleRegistrar kRegistrar({
    .name = "roster",
    .section = "roster",
    .provides = {Interface::of<RosterModule>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<RosterModule>(c); },
});

}  // namespace

// --- the per-account queue ---

RosterModule::Ticket& RosterModule::Ticket::operator=(Ticket&& other) noexcept {
    if (this != &other) {
        release();
        alive_ = std::move(other.alive_);
        module_ = std::exchange(other.module_, nullptr);
        account_ = std::exchange(other.account_, nullptr);
    }
    return *this;
}

void RosterModule::Ticket::release() {
    RosterModule* module = std::exchange(module_, nullptr);
    void* account = std::exchange(account_, nullptr);
    if (module != nullptr && !alive_.expired()) {
        module->finish(*static_cast<RosterModule::Account*>(account));
    }
}

RosterModule::RosterModule(ModuleContext& context)
    : router_(context.router),
      store_(context.database),
      maxItems_(static_cast<std::size_t>(context.config.options.getInt("max_items"))),
      interestedKey_(router_.hooks().declareSlot<bool>()) {
    context.provide<RosterModule>(*this);
    router::Hooks& hooks = router_.hooks();
    hooks_.push_back(hooks.addIq(router::IqTarget::Account, std::string(ns::kRoster), "query",
                                 [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                        LocalSession* origin) { handleIq(iq, from, to, origin); }));
    hooks_.push_back(hooks.addFeature(router::IqTarget::Account, std::string(ns::kRoster)));
    // XEP-0237 §2: roster versioning is announced as a stream feature.
    hooks_.push_back(hooks.addStreamFeature(xml::Element("ver", std::string(ns::kRosterVer))));
    // The roster of a new session is loaded at once: it will be asked for, and presence needs it.
    hooks_.push_back(hooks.onSession(router::SessionEvent::Bound, [this](LocalSession& s) {
        withRoster(s.jid().bare(), [](RosterState*, Status, Ticket) {});
    }));
    hooks_.push_back(hooks.onSession(router::SessionEvent::Closed, [this](LocalSession& s) {
        auto it = accounts_.find(s.jid().bare());
        if (it != accounts_.end()) {
            maybeForget(it->second);
        }
    }));
}

RosterModule::~RosterModule() = default;

bool RosterModule::hasRoom(const Jid& bare) const {
    auto it = accounts_.find(bare);
    if (it == accounts_.end() || it->second.queue.size() < kMaxQueuedOps) {
        return true;
    }
    log::info("roster of {}: {} operations waiting; refusing more", bare.full(),
              it->second.queue.size());
    return false;
}

void RosterModule::withRoster(const Jid& bare, Op op) {
    auto it = accounts_.find(bare);
    if (it == accounts_.end()) {
        it = accounts_.try_emplace(bare).first;
        it->second.key = &it->first;
        it->second.queue.push_back(std::move(op));
        startLoad(it->second);
        return;
    }
    it->second.queue.push_back(std::move(op));
    pump(it->second);
}

void RosterModule::startLoad(Account& account) {
    account.load = Account::Load::Loading;
    const Jid bare = account.bare();
    store_.load(bare.domain(), bare.local(),
                [this, bare](std::expected<std::optional<storage::Roster>, storage::StoreError> r) {
                    auto it = accounts_.find(bare);
                    if (it == accounts_.end()) {
                        return;
                    }
                    Account& loaded = it->second;
                    if (!r) {
                        log::warn("roster of {}: cannot load: {}", bare.full(), r.error().message);
                        loaded.load = Account::Load::Failed;
                    } else if (!*r) {
                        loaded.load = Account::Load::Missing;
                    } else {
                        // Its 'bare' refers to the map's key, which lives as long as it does.
                        RosterState& state = loaded.roster.emplace(
                            RosterState{loaded.bare(), (*r)->accountId, (*r)->version, {}, 0});
                        for (auto& item : (*r)->items) {
                            state.inRoster += item.inRoster ? 1 : 0;
                            std::string key = item.jid;
                            state.items.emplace(std::move(key), std::move(item));
                        }
                        loaded.load = Account::Load::Loaded;
                    }
                    pump(loaded);
                });
}

void RosterModule::pump(Account& account) {
    if (account.pumping) {
        return;  // the call further up the stack goes on with the queue
    }
    account.pumping = true;
    while (!account.running && !account.queue.empty() && account.load != Account::Load::Loading) {
        Op op = account.queue.take_front();
        account.running = true;
        Status status = Status::Ok;
        RosterState* roster = nullptr;
        switch (account.load) {
            case Account::Load::Loaded:
                roster = &*account.roster;
                break;
            case Account::Load::Missing:
                status = Status::NoAccount;
                break;
            default:
                status = Status::Unavailable;
                break;
        }
        op(roster, status, Ticket(alive_, this, &account));
    }
    account.pumping = false;
    maybeForget(account);
}

void RosterModule::finish(Account& account) {
    account.running = false;
    pump(account);
}

void RosterModule::maybeForget(Account& account) {
    if (account.running || account.pumping || !account.queue.empty() ||
        account.load == Account::Load::Loading) {
        return;
    }
    // A loaded roster stays while the account has sessions; a failed load is tried again by the
    // next operation.
    if (account.load == Account::Load::Loaded &&
        !router_.sessions().resources(account.bare()).empty()) {
        return;
    }
    accounts_.erase(accounts_.find(account.bare()));  // not by key: the key is in the node
}

const RosterState* RosterModule::cached(const Jid& bare) const {
    auto it = accounts_.find(bare);
    if (it == accounts_.end() || it->second.load != Account::Load::Loaded || it->second.running ||
        !it->second.queue.empty()) {
        return nullptr;
    }
    return &*it->second.roster;
}

// --- writes and pushes ---

void RosterModule::saveItem(RosterState& roster, RosterItem item, Saved done) {
    const bool visible = visibleChange(roster.find(item.jid), item);
    RosterState* state = &roster;  // alive: the operation holding the Ticket waits for us
    auto stored = item;
    store_.put(
        roster.accountId, stored, visible,
        [this, state, item = std::move(item), visible,
         done = std::move(done)](std::expected<std::int64_t, storage::StoreError> r) mutable {
            if (!r) {
                log::warn("roster of {}: cannot save {}: {}", state->bare.full(), item.jid,
                          r.error().message);
                done(false);
                return;
            }
            state->version = *r;
            auto it = state->items.find(item.jid);
            if (it != state->items.end()) {
                state->inRoster -= it->second.inRoster ? 1 : 0;
                it->second = item;
            } else {
                it = state->items.emplace(item.jid, item).first;
            }
            state->inRoster += item.inRoster ? 1 : 0;
            if (visible) {
                push(*state, item.inRoster ? itemElement(item) : removedItemElement(item.jid));
            }
            done(true);
        });
}

void RosterModule::removeItem(RosterState& roster, std::string jid, Saved done) {
    const RosterItem* before = roster.find(jid);
    const bool visible = before != nullptr && before->inRoster;
    RosterState* state = &roster;
    store_.remove(roster.accountId, jid, visible,
                  [this, state, jid, visible, done = std::move(done)](
                      std::expected<std::int64_t, storage::StoreError> r) mutable {
                      if (!r) {
                          log::warn("roster of {}: cannot remove {}: {}", state->bare.full(), jid,
                                    r.error().message);
                          done(false);
                          return;
                      }
                      state->version = *r;
                      auto it = state->items.find(jid);
                      if (it != state->items.end()) {
                          state->inRoster -= it->second.inRoster ? 1 : 0;
                          state->items.erase(it);
                      }
                      if (visible) {
                          push(*state, removedItemElement(jid));
                      }
                      done(true);
                  });
}

void RosterModule::push(const RosterState& roster, const xml::Element& item) {
    // RFC 6121 §2.1.6: to every interested resource, with the new version (§2.6.3).
    static std::uint64_t nextPush = 1;
    for (LocalSession* s : router_.sessions().resources(roster.bare)) {
        if (!interested(*s)) {
            continue;
        }
        xml::Element iq("iq", std::string(ns::kClient));
        iq.setAttr("type", "set");
        iq.setAttr("id", "roster-push-" + std::to_string(nextPush++));
        iq.setAttr("to", s->jid().full());
        xml::Element& query = iq.addChild("query", ns::kRoster);
        query.setAttr("ver", roster.versionString());
        query.addChild(item);
        s->deliver(iq);
    }
}

xml::Element RosterModule::itemElement(const RosterItem& item) {
    xml::Element e("item", std::string(ns::kRoster));
    e.setAttr("jid", item.jid);
    if (item.name) {
        e.setAttr("name", *item.name);
    }
    e.setAttr("subscription", std::string(storage::toString(item.subscription)));
    if (item.askOut) {
        e.setAttr("ask", "subscribe");
    }
    if (item.approved) {
        e.setAttr("approved", "true");
    }
    for (const auto& group : item.groups) {
        e.addTextChild("group", group);
    }
    return e;
}

// --- roster get / set (RFC 6121 §2.2 - §2.5) ---

void RosterModule::handleIq(const xml::Element& iq, const Jid& from, const Jid& to,
                            LocalSession* origin) {
    // Only the account itself works on its roster; to anyone else this is an account that
    // offers no such service (no hint that the roster exists).
    if (origin == nullptr || from.bare() != to) {
        router_.bounce(iq, StanzaCondition::ServiceUnavailable);
        return;
    }
    if (iq.attr("type") == "get") {
        handleGet(iq, to, origin->id());
    } else {
        handleSet(iq, to);
    }
}

void RosterModule::handleGet(const xml::Element& iq, const Jid& user, router::SessionId session) {
    const xml::Element* query = iq.firstChildElement();
    std::optional<std::string> clientVer;
    if (const std::string* ver = query->findAttr("ver")) {
        clientVer = *ver;
    }
    if (!hasRoom(user)) {
        replyError(router_, iq, StanzaCondition::ResourceConstraint,
                   "too many roster operations waiting for this account; try again",
                   stanza::ErrorType::Wait);
        return;
    }
    withRoster(user, [this, iq, user, session, clientVer = std::move(clientVer)](
                         RosterState* roster, Status, Ticket) {
        if (roster == nullptr) {
            replyError(router_, iq, StanzaCondition::InternalServerError,
                       "the roster cannot be read right now", stanza::ErrorType::Wait);
            return;
        }
        LocalSession* s = router_.sessions().findById(session);
        if (s == nullptr) {
            return;
        }
        // RFC 6121 §2.1.6: asking for the roster makes the resource interested in pushes.
        s->slot(interestedKey_) = true;
        const Jid to = s->jid();
        // XEP-0237 §3: a client whose version is current gets an empty result and pushes for what
        // changes later. A client that sent no 'ver' gets none back (RFC 6121 §2.6.2).
        if (clientVer && *clientVer == roster->versionString()) {
            replyResult(router_, iq, to, user);
            return;
        }
        xml::Element result("query", std::string(ns::kRoster));
        if (clientVer) {
            result.setAttr("ver", roster->versionString());
        }
        for (const auto& [jid, item] : roster->items) {
            if (item.inRoster) {
                result.addChild(itemElement(item));
            }
        }
        replyResult(router_, iq, to, user, std::move(result));
    });
}

void RosterModule::handleSet(const xml::Element& iq, const Jid& user) {
    const xml::Element* query = iq.firstChildElement();
    auto items = query->childElements();
    // RFC 6121 §2.3.3: exactly one item.
    if (items.size() != 1 || !items[0]->is("item", ns::kRoster)) {
        replyError(router_, iq, StanzaCondition::BadRequest, "a roster set holds exactly one item");
        return;
    }
    const xml::Element& itemEl = *items[0];
    auto contact = Jid::parse(itemEl.attr("jid"));
    if (!contact || !contact->isBare()) {
        replyError(router_, iq, StanzaCondition::BadRequest,
                   contact ? "roster items are bare JIDs" : "invalid 'jid'");
        return;
    }
    if (*contact == user) {
        replyError(router_, iq, StanzaCondition::NotAllowed, "you cannot be a contact of yourself");
        return;
    }
    const std::string_view subscription = itemEl.attr("subscription");
    const bool remove = subscription == "remove";
    // RFC 6121 §2.1.2.5: a client sets no subscription state except 'remove'.
    if (!subscription.empty() && !remove) {
        replyError(router_, iq, StanzaCondition::BadRequest,
                   "only subscription='remove' may be set by a client");
        return;
    }
    RosterItem wanted;
    wanted.jid = contact->full();
    if (!remove) {
        if (const std::string* name = itemEl.findAttr("name"); name && !name->empty()) {
            if (name->size() > kMaxNameBytes) {
                replyError(router_, iq, StanzaCondition::NotAcceptable, "the name is too long");
                return;
            }
            wanted.name = *name;
        }
        std::set<std::string> seen;
        for (const xml::Element* g : itemEl.childElements()) {
            if (!g->is("group", ns::kRoster)) {
                continue;
            }
            std::string group = g->text();
            if (group.empty()) {
                replyError(router_, iq, StanzaCondition::NotAcceptable,
                           "group names cannot be empty");
                return;
            }
            if (group.size() > kMaxGroupBytes) {
                replyError(router_, iq, StanzaCondition::NotAcceptable, "a group name is too long");
                return;
            }
            if (!seen.insert(group).second) {
                replyError(router_, iq, StanzaCondition::BadRequest, "a group is repeated");
                return;
            }
            wanted.groups.push_back(std::move(group));
        }
        if (wanted.groups.size() > kMaxGroupsPerItem) {
            replyError(router_, iq, StanzaCondition::NotAcceptable, "too many groups");
            return;
        }
    }
    if (!hasRoom(user)) {
        replyError(router_, iq, StanzaCondition::ResourceConstraint,
                   "too many roster operations waiting for this account; try again",
                   stanza::ErrorType::Wait);
        return;
    }
    withRoster(user, [this, iq, user, remove, wanted = std::move(wanted)](
                         RosterState* roster, Status, Ticket ticket) mutable {
        if (roster == nullptr) {
            replyError(router_, iq, StanzaCondition::InternalServerError,
                       "the roster cannot be changed right now", stanza::ErrorType::Wait);
            return;
        }
        const RosterItem* existing = roster->find(wanted.jid);
        if (remove) {
            if (existing == nullptr || !existing->inRoster) {
                replyError(router_, iq, StanzaCondition::ItemNotFound);
                return;
            }
            const RosterItem before = *existing;
            removeItem(*roster, wanted.jid,
                       [this, iq, user, before, ticket = std::move(ticket)](bool ok) {
                           if (!ok) {
                               replyError(router_, iq, StanzaCondition::InternalServerError,
                                          "the roster cannot be changed right now",
                                          stanza::ErrorType::Wait);
                               return;
                           }
                           replyResult(router_, iq, *Jid::parse(iq.attr("from")), user);
                           // RFC 6121 §2.5.2: the contact learns that the subscriptions are gone.
                           const Jid gone = *Jid::parse(before.jid);
                           if (hasTo(before.subscription) || before.askOut) {
                               router_.route(presenceStanza("unsubscribe", user, gone));
                           }
                           if (hasFrom(before.subscription) || before.pendingIn) {
                               router_.route(presenceStanza("unsubscribed", user, gone));
                           }
                           if (hasFrom(before.subscription)) {
                               for (LocalSession* s : router_.sessions().resources(user)) {
                                   if (s->availability().available) {
                                       router_.route(presenceStanza("unavailable", s->jid(), gone));
                                   }
                               }
                           }
                       });
            return;
        }
        RosterItem item = existing ? *existing : RosterItem{};
        if (existing == nullptr || !existing->inRoster) {
            if (roster->inRoster >= maxItems_) {
                replyError(router_, iq, StanzaCondition::PolicyViolation,
                           "your roster is full (" + std::to_string(maxItems_) +
                               " contacts at most); remove a contact first");
                return;
            }
        }
        item.jid = wanted.jid;
        item.name = std::move(wanted.name);
        item.groups = std::move(wanted.groups);
        item.inRoster = true;
        saveItem(*roster, std::move(item), [this, iq, user, ticket = std::move(ticket)](bool ok) {
            if (!ok) {
                replyError(router_, iq, StanzaCondition::InternalServerError,
                           "the roster cannot be changed right now", stanza::ErrorType::Wait);
                return;
            }
            replyResult(router_, iq, *Jid::parse(iq.attr("from")), user);
        });
    });
}

}  // namespace corvid::modules
