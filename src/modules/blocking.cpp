#include "modules/blocking.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <unordered_map>

#include "modules/module_registry.h"
#include "modules/roster.h"  // replyError
#include "stanza/ns.h"
#include "storage/blocking_store.h"
#include "util/fifo.h"
#include "util/log.h"

namespace corvid::modules {

using router::HookResult;
using router::LocalSession;
using router::SessionId;
using router::StanzaContext;
using stanza::Jid;
using stanza::StanzaCondition;
namespace ns = stanza::ns;

bool blockEntryMatches(const Jid& entry, const Jid& jid) {
    // XEP-0016 §2.1 order: user@domain/resource, user@domain, domain/resource, domain.
    if (entry == jid || entry == jid.bare()) {
        return true;
    }
    if (entry.hasLocal() || entry.domain() != jid.domain()) {
        return false;
    }
    return entry.isDomain() || entry.resource() == jid.resource();
}

namespace {

// XEP-0191 sets no bound; a list is in memory for every online user, so it needs one.
constexpr std::size_t kMaxBlocklistItems = 1000;
// Stanzas kept for one account while its list loads (a few milliseconds).
constexpr std::size_t kMaxHeld = 256;
/// Blocklist requests of one account waiting for the database; more get resource-constraint.
constexpr std::size_t kMaxQueuedOps = 64;
// After a failed load, stanzas pass unchecked this long before the next attempt.
constexpr auto kRetryAfterFailure = std::chrono::seconds(5);

class BlockingModuleImpl final : public BlockingModule {
  public:
    explicit BlockingModuleImpl(ModuleContext& context)
        : router_(context.router),
          store_(context.database),
          interestedKey_(router_.hooks().declareSlot<bool>()) {
        context.provide<BlockingModule>(*this);
        router::Hooks& hooks = router_.hooks();
        // Before every other filter and feature: nothing of a blocked entity gets through.
        hooks_.push_back(hooks.add(router::Event::OutboundFromLocal, 100,
                                   [this](StanzaContext& c) { return onOutbound(c); }));
        hooks_.push_back(hooks.add(router::Event::ToLocalAccount, 100,
                                   [this](StanzaContext& c) { return onInbound(c); }));
        for (const char* name : {"blocklist", "block", "unblock"}) {
            hooks_.push_back(
                hooks.addIq(router::IqTarget::Account, std::string(ns::kBlocking), name,
                            [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                   LocalSession* origin) { handleIq(iq, from, to, origin); }));
        }
        // XEP-0191 §3.1: clients look for the feature in their server's disco#info (Gajim,
        // Conversations, Profanity); the account, which answers the iqs, lists it too.
        for (auto target : {router::IqTarget::Host, router::IqTarget::Account}) {
            hooks_.push_back(hooks.addFeature(target, std::string(ns::kBlocking)));
        }
        hooks_.push_back(hooks.onSession(router::SessionEvent::Bound, [this](LocalSession& s) {
            account(s.jid().bare());  // load now: the first stanzas will need it
        }));
        hooks_.push_back(hooks.onSession(router::SessionEvent::Closed, [this](LocalSession& s) {
            auto it = accounts_.find(s.jid().bare());
            if (it != accounts_.end()) {
                maybeForget(it->second);
            }
        }));
    }

    bool isBlocked(const Jid& user, const Jid& other) const override {
        auto it = accounts_.find(user);
        if (it == accounts_.end() || it->second.load != Load::Loaded) {
            return false;
        }
        return matches(it->second, other);
    }

    void setListener(Listener listener) override { listener_ = std::move(listener); }

  private:
    enum class Load { Loading, Loaded, Failed };

    struct Held {
        xml::Element stanza;
        std::optional<SessionId> origin;  // set for the user's own outbound stanzas
    };
    using Op = std::move_only_function<void()>;

    // One per account with sessions (and while a load or an operation runs), so kept small: an
    // account with an empty list and nothing pending holds no heap memory besides its map node.
    struct Account {
        const Jid& bare() const { return *key; }
        const Jid* key = nullptr;  // the key of its node in accounts_ (stable)
        Load load = Load::Loading;
        bool running = false;
        int busy = 0;  // callbacks in flight or held stanzas being routed again
        std::chrono::steady_clock::time_point retryAt;
        std::set<std::string, std::less<>> jids;
        util::Fifo<Held> held;
        util::Fifo<Op> ops;  // block/unblock/get, one at a time once loaded
    };

    static bool matches(const Account& a, const Jid& jid) {
        if (a.jids.empty()) {
            return false;
        }
        const std::string bare = jid.bare().full();
        std::string domainResource(jid.domain());
        if (jid.hasResource()) {
            domainResource += "/";
            domainResource += jid.resource();
        }
        return a.jids.contains(jid.full()) || a.jids.contains(bare) ||
               a.jids.contains(domainResource) || a.jids.contains(jid.domain());
    }

    /// The account's state, loading it when it is not there (or when a failure is old enough).
    Account& account(const Jid& bare) {
        auto it = accounts_.find(bare);
        if (it != accounts_.end()) {
            Account& a = it->second;
            if (a.load == Load::Failed && std::chrono::steady_clock::now() >= a.retryAt &&
                a.busy == 0) {
                startLoad(a);
            }
            return a;
        }
        it = accounts_.try_emplace(bare).first;
        Account& a = it->second;
        a.key = &it->first;
        startLoad(a);
        return a;
    }

    void startLoad(Account& a) {
        a.load = Load::Loading;
        ++a.busy;
        const Jid bare = a.bare();
        store_.load(
            bare.domain(), bare.local(),
            [this,
             bare](std::expected<std::optional<std::vector<std::string>>, storage::StoreError> r) {
                auto it = accounts_.find(bare);
                if (it == accounts_.end()) {
                    return;
                }
                Account& acc = it->second;
                --acc.busy;
                if (!r) {
                    // Fail open: a database outage must not cut every user off. Logged,
                    // and tried again a little later.
                    log::warn("blocklist of {}: cannot load ({}); not applied for now", bare.full(),
                              r.error().message);
                    acc.load = Load::Failed;
                    acc.retryAt = std::chrono::steady_clock::now() + kRetryAfterFailure;
                } else {
                    acc.load = Load::Loaded;
                    acc.jids.clear();
                    if (*r) {  // no account: an empty list
                        acc.jids.insert((*r)->begin(), (*r)->end());
                    }
                }
                ++acc.busy;  // keeps it through what follows
                releaseHeld(acc);
                runOps(acc);
                --acc.busy;
                maybeForget(acc);
            });
    }

    /// Routes the stanzas that waited for the list, in order, now that it is known.
    void releaseHeld(Account& a) {
        util::Fifo<Held> held = std::move(a.held);
        while (!held.empty()) {
            Held h = held.take_front();
            if (h.origin) {
                if (LocalSession* s = router_.sessions().findById(*h.origin)) {
                    router_.route(std::move(h.stanza), s);
                }
            } else {
                router_.route(std::move(h.stanza), nullptr);
            }
        }
    }

    void maybeForget(Account& a) {
        if (a.busy != 0 || a.running || !a.ops.empty() || !a.held.empty() ||
            a.load == Load::Loading) {
            return;
        }
        if (a.load == Load::Loaded && !router_.sessions().resources(a.bare()).empty()) {
            return;  // kept while the account has sessions
        }
        if (a.load == Load::Failed && std::chrono::steady_clock::now() < a.retryAt) {
            return;  // remembered, so that stanzas do not retry the load each time
        }
        accounts_.erase(accounts_.find(a.bare()));  // not by key: the key is in the node
    }

    void hold(Account& a, const xml::Element& stanza, std::optional<SessionId> origin) {
        if (a.held.size() >= kMaxHeld) {
            // Never silently: the sender may try again.
            log::debug("blocklist of {} still loading: stanza refused", a.bare().full());
            const std::string_view type = stanza.attr("type");
            if (stanza.name() == "message" ||
                (stanza.name() == "iq" && (type == "get" || type == "set"))) {
                replyError(router_, stanza, StanzaCondition::ResourceConstraint,
                           "too busy; try again", stanza::ErrorType::Wait);
            }
            return;
        }
        a.held.push_back(Held{stanza, origin});
    }

    // --- filters ---

    HookResult onOutbound(StanzaContext& ctx) {
        const Jid user = ctx.from.bare();
        Account& a = account(user);
        if (a.load == Load::Loading) {
            hold(a, ctx.stanza, ctx.origin->id());
            return HookResult::Handled;
        }
        if (a.load != Load::Loaded || !ctx.stanza.hasAttr("to") || ctx.to.bare() == user ||
            (ctx.to.isDomain() && router_.isLocalDomain(ctx.to.domain()))) {
            return HookResult::Pass;
        }
        if (!matches(a, ctx.to)) {
            return HookResult::Pass;
        }
        // XEP-0191 §3.5: not routed; the user learns why.
        if (!stanza::isErrorStanza(ctx.stanza)) {
            xml::Element blockedCondition("blocked", std::string(ns::kBlockingErrors));
            stanza::StanzaErrorOptions options;
            options.appCondition = &blockedCondition;
            xml::Element error = stanza::makeStanzaError(ctx.stanza, StanzaCondition::NotAcceptable,
                                                         "you have blocked this contact", options);
            ctx.origin->deliver(error);
        }
        return HookResult::Handled;
    }

    HookResult onInbound(StanzaContext& ctx) {
        const Jid user = ctx.to.bare();
        // The account itself and the server are never blocked.
        if (ctx.from.bare() == user ||
            (ctx.from.isDomain() && router_.isLocalDomain(ctx.from.domain()))) {
            return HookResult::Pass;
        }
        auto it = accounts_.find(user);
        if (it == accounts_.end() && router_.sessions().resources(user).empty()) {
            // Nobody is logged in: presence broadcasts are dropped anyway, and a message can only
            // be stored, which checks the blocklist in the same statement (OfflineStore). No need
            // to read the list for them (a flood of messages must not wait in memory).
            const std::string_view type = ctx.stanza.attr("type");
            const std::string& kind = ctx.stanza.name();
            if (kind == "message" || (kind == "presence" &&
                                      (type.empty() || type == "unavailable" || type == "error"))) {
                return HookResult::Pass;
            }
        }
        Account& a = account(user);
        if (a.load == Load::Loading) {
            hold(a, ctx.stanza, std::nullopt);
            return HookResult::Handled;
        }
        if (a.load != Load::Loaded || !matches(a, ctx.from)) {
            return HookResult::Pass;
        }
        // XEP-0191 §3.5: dropped. An iq request needs an answer; service-unavailable is what any
        // account without such a resource or feature gives, so the block does not show.
        const std::string_view type = ctx.stanza.attr("type");
        if (ctx.stanza.name() == "iq" && (type == "get" || type == "set")) {
            router_.bounce(ctx.stanza, StanzaCondition::ServiceUnavailable);
        }
        return HookResult::Handled;
    }

    // --- the protocol (XEP-0191 §3) ---

    void handleIq(const xml::Element& iq, const Jid& from, const Jid& to, LocalSession* origin) {
        if (origin == nullptr || from.bare() != to) {
            router_.bounce(iq, StanzaCondition::ServiceUnavailable);
            return;
        }
        const xml::Element& payload = *iq.firstChildElement();
        const std::string_view type = iq.attr("type");
        const std::string& what = payload.name();
        if ((what == "blocklist") != (type == "get")) {
            replyError(router_, iq, StanzaCondition::BadRequest,
                       what == "blocklist" ? "the blocklist is read with a get"
                                           : "block and unblock are sets");
            return;
        }
        std::vector<Jid> jids;
        for (const xml::Element* item : payload.childElements()) {
            if (!item->is("item", ns::kBlocking)) {
                continue;
            }
            auto jid = Jid::parse(item->attr("jid"));
            if (!jid) {
                replyError(router_, iq, StanzaCondition::JidMalformed, jid.error().reason);
                return;
            }
            jids.push_back(std::move(*jid));
        }
        if (what == "block" && jids.empty()) {
            replyError(router_, iq, StanzaCondition::BadRequest, "nothing to block");
            return;
        }
        const SessionId session = origin->id();
        Account& a = account(to);
        if (a.ops.size() >= kMaxQueuedOps) {
            replyError(router_, iq, StanzaCondition::ResourceConstraint,
                       "too many blocklist requests waiting; try again", stanza::ErrorType::Wait);
            return;
        }
        a.ops.push_back([this, iq, user = to, session, what, jids = std::move(jids)]() mutable {
            auto it = accounts_.find(user);
            Account& acc = it->second;
            if (acc.load != Load::Loaded) {
                replyError(router_, iq, StanzaCondition::InternalServerError,
                           "the blocklist cannot be read right now", stanza::ErrorType::Wait);
                opDone(acc);
                return;
            }
            if (what == "blocklist") {
                // XEP-0191 §3.3: asking for the list makes the resource receive pushes.
                if (LocalSession* s = router_.sessions().findById(session)) {
                    s->slot(interestedKey_) = true;
                }
                xml::Element list("blocklist", std::string(ns::kBlocking));
                for (const auto& jid : acc.jids) {
                    list.addChild("item").setAttr("jid", jid);
                }
                replyResult(router_, iq, *Jid::parse(iq.attr("from")), user, std::move(list));
                opDone(acc);
            } else if (what == "block") {
                block(acc, iq, std::move(jids));
            } else {
                unblock(acc, iq, std::move(jids));
            }
        });
        runOps(a);
    }

    void runOps(Account& a) {
        if (a.running || a.ops.empty() || a.load == Load::Loading) {
            return;
        }
        a.running = true;
        Op op = a.ops.take_front();
        op();  // ends with opDone()
    }

    void opDone(Account& a) {
        a.running = false;
        if (!a.ops.empty()) {
            runOps(a);
            return;
        }
        maybeForget(a);
    }

    void block(Account& a, const xml::Element& iq, std::vector<Jid> jids) {
        std::vector<std::string> added;
        std::vector<Jid> addedJids;
        for (const Jid& jid : jids) {
            if (!a.jids.contains(jid.full()) &&
                std::find(added.begin(), added.end(), jid.full()) == added.end()) {
                added.push_back(jid.full());
                addedJids.push_back(jid);
            }
        }
        if (a.jids.size() + added.size() > kMaxBlocklistItems) {
            replyError(router_, iq, StanzaCondition::PolicyViolation,
                       "your blocklist is full (" + std::to_string(kMaxBlocklistItems) +
                           " entries at most)");
            opDone(a);
            return;
        }
        if (added.empty()) {
            replyResult(router_, iq, *Jid::parse(iq.attr("from")), a.bare());
            opDone(a);
            return;
        }
        const Jid user = a.bare();
        ++a.busy;
        store_.block(
            user.domain(), user.local(), added,
            [this, user, iq, added,
             addedJids = std::move(addedJids)](std::expected<void, storage::StoreError> r) {
                Account& acc = accounts_.find(user)->second;
                --acc.busy;
                if (!r) {
                    log::warn("blocklist of {}: cannot block: {}", user.full(), r.error().message);
                    replyError(router_, iq, StanzaCondition::InternalServerError,
                               "the blocklist cannot be changed right now",
                               stanza::ErrorType::Wait);
                    opDone(acc);
                    return;
                }
                acc.jids.insert(added.begin(), added.end());
                replyResult(router_, iq, *Jid::parse(iq.attr("from")), user);
                push(acc, "block", added);
                if (listener_) {
                    listener_(user, addedJids, {});
                }
                opDone(acc);
            });
    }

    void unblock(Account& a, const xml::Element& iq, std::vector<Jid> jids) {
        const bool all = jids.empty();
        std::vector<std::string> removed;
        std::vector<Jid> removedJids;
        if (all) {
            for (const auto& jid : a.jids) {
                removed.push_back(jid);
                removedJids.push_back(*Jid::parse(jid));
            }
        } else {
            for (const Jid& jid : jids) {
                if (a.jids.contains(jid.full()) &&
                    std::find(removed.begin(), removed.end(), jid.full()) == removed.end()) {
                    removed.push_back(jid.full());
                    removedJids.push_back(jid);
                }
            }
        }
        if (removed.empty()) {
            replyResult(router_, iq, *Jid::parse(iq.attr("from")), a.bare());
            opDone(a);
            return;
        }
        const Jid user = a.bare();
        ++a.busy;
        store_.unblock(user.domain(), user.local(), all ? std::vector<std::string>{} : removed,
                       [this, user, iq, all, removed, removedJids = std::move(removedJids)](
                           std::expected<void, storage::StoreError> r) {
                           Account& acc = accounts_.find(user)->second;
                           --acc.busy;
                           if (!r) {
                               log::warn("blocklist of {}: cannot unblock: {}", user.full(),
                                         r.error().message);
                               replyError(router_, iq, StanzaCondition::InternalServerError,
                                          "the blocklist cannot be changed right now",
                                          stanza::ErrorType::Wait);
                               opDone(acc);
                               return;
                           }
                           for (const auto& jid : removed) {
                               acc.jids.erase(jid);
                           }
                           replyResult(router_, iq, *Jid::parse(iq.attr("from")), user);
                           // XEP-0191 §3.4: an unblock-all push carries no items.
                           push(acc, "unblock", all ? std::vector<std::string>{} : removed);
                           if (listener_) {
                               listener_(user, {}, removedJids);
                           }
                           opDone(acc);
                       });
    }

    /// XEP-0191 §3.3/§3.4: to every resource that asked for the list.
    void push(const Account& a, std::string_view what, const std::vector<std::string>& jids) {
        static std::uint64_t nextPush = 1;
        for (LocalSession* s : router_.sessions().resources(a.bare())) {
            const bool* asked = s->findSlot(interestedKey_);
            if (asked == nullptr || !*asked) {
                continue;
            }
            xml::Element iq("iq", std::string(ns::kClient));
            iq.setAttr("type", "set");
            iq.setAttr("id", "block-push-" + std::to_string(nextPush++));
            iq.setAttr("to", s->jid().full());
            xml::Element& payload = iq.addChild(std::string(what), ns::kBlocking);
            for (const auto& jid : jids) {
                payload.addChild("item").setAttr("jid", jid);
            }
            s->deliver(iq);
        }
    }

    router::Router& router_;
    storage::BlockingStore store_;
    Listener listener_;
    /// Set in the sessions that asked for the blocklist (they get pushes).
    router::SlotKey<bool> interestedKey_;
    // Node-based: an Account stays where it is while the map grows (callbacks hold references).
    std::unordered_map<Jid, Account> accounts_;
};

const ModuleRegistrar kRegistrar({
    .name = "blocking",
    .section = "blocking",
    .provides = {Interface::of<BlockingModule>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<BlockingModuleImpl>(c); },
});

}  // namespace

}  // namespace corvid::modules
