#include <algorithm>
#include <chrono>
#include <set>

#include "modules/blocking.h"
#include "modules/module_registry.h"
#include "modules/offline_codec.h"
#include "modules/roster.h"
#include "stanza/delay.h"
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::modules {

using router::HookResult;
using router::LocalSession;
using router::SessionId;
using router::StanzaContext;
using stanza::Jid;
using stanza::StanzaCondition;
using storage::RosterItem;
using storage::Subscription;
namespace ns = stanza::ns;

namespace {

bool isSubscriptionType(std::string_view t) {
    return t == "subscribe" || t == "subscribed" || t == "unsubscribe" || t == "unsubscribed";
}

xml::Element presenceStanza(std::string_view type, const Jid& from, std::string_view to) {
    xml::Element p("presence", std::string(ns::kClient));
    if (!type.empty()) {
        p.setAttr("type", std::string(type));
    }
    p.setAttr("from", from.full());
    p.setAttr("to", std::string(to));
    return p;
}

/// Whether a blocklist entry concerns a roster contact (a bare JID): the entry is the contact,
/// one of its full JIDs, or its domain.
bool entryCoversContact(const Jid& entry, const Jid& contact) {
    if (entry.bare() == contact) {
        return true;
    }
    return entry.isDomain() && entry.domain() == contact.domain();
}

/// RFC 6121 §3-§4: the presence subscription state machine (with pre-approval, §3.4), stored in
/// the roster; initial, subsequent and unavailable presence broadcasts; probes (answered from
/// the sessions' last presence for local contacts); directed presence; priority. Takes over the
/// router's default PresenceBroadcast and PresenceToBare behaviour. Contacts the user blocks
/// (XEP-0191) are left out when the blocking module is enabled.
class PresenceModule final : public Module {
  public:
    explicit PresenceModule(ModuleContext& context)
        : router_(context.router),
          roster_(context.require<RosterModule>()),
          blocking_(context.find<BlockingModule>()),
          maxDirected_(context.server.maxDirectedPresences),
          lastKey_(router_.hooks().declareSlot<xml::Element>()),
          directedKey_(router_.hooks().declareSlot<std::set<std::string>>()) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.add(router::Event::OutboundFromLocal, 50,
                                   [this](StanzaContext& c) { return onOutbound(c); }));
        hooks_.push_back(hooks.add(router::Event::PresenceBroadcast, 50,
                                   [this](StanzaContext& c) { return onBroadcast(c); }));
        hooks_.push_back(hooks.add(router::Event::PresenceToBare, 50,
                                   [this](StanzaContext& c) { return onToBare(c); }));
        hooks_.push_back(hooks.onSession(router::SessionEvent::Unavailable,
                                         [this](LocalSession& s) { onSessionUnavailable(s); }));
        // RFC 6121 §3.4: pre-approval is announced as a stream feature.
        hooks_.push_back(
            hooks.addStreamFeature(xml::Element("sub", std::string(ns::kPreApproval))));
        if (blocking_ != nullptr) {
            blocking_->setListener([this](const Jid& user, const std::vector<Jid>& blocked,
                                          const std::vector<Jid>& unblocked) {
                onBlocklistChange(user, blocked, unblocked);
            });
        }
    }

  private:
    using Status = RosterModule::Status;
    using Ticket = RosterModule::Ticket;

    bool blocked(const Jid& user, const Jid& other) const {
        return blocking_ != nullptr && blocking_->isBlocked(user, other);
    }

    std::vector<LocalSession*> available(const Jid& bare) const {
        std::vector<LocalSession*> out;
        for (LocalSession* s : router_.sessions().resources(bare)) {
            if (s->availability().available) {
                out.push_back(s);
            }
        }
        return out;
    }

    /// Each available resource's current presence, to `to` (RFC 6121 §3.2.2, §4.3.2). Returns
    /// how many resources there were.
    int sendAvailable(const Jid& user, std::string_view to) {
        int count = 0;
        for (LocalSession* s : available(user)) {
            if (const xml::Element* last = s->findSlot(lastKey_)) {
                xml::Element p = *last;
                p.setAttr("from", s->jid().full());
                p.setAttr("to", std::string(to));
                router_.route(std::move(p));
                ++count;
            }
        }
        return count;
    }

    void sendUnavailable(const Jid& user, std::string_view to) {
        for (LocalSession* s : available(user)) {
            router_.route(presenceStanza("unavailable", s->jid(), to));
        }
    }

    void deliverTo(const Jid& user, const xml::Element& stanza, bool interestedOnly) {
        for (LocalSession* s : router_.sessions().resources(user)) {
            if (interestedOnly ? roster_.interested(*s) : s->availability().available) {
                s->deliver(stanza);
            }
        }
    }

    // --- outbound: what the user's own resources send ---

    HookResult onOutbound(StanzaContext& ctx) {
        if (ctx.stanza.name() != "presence" || ctx.origin == nullptr || !ctx.stanza.hasAttr("to")) {
            return HookResult::Pass;
        }
        const std::string type(ctx.stanza.attr("type"));
        const Jid user = ctx.from.bare();
        if (isSubscriptionType(type)) {
            const Jid contact = ctx.to.bare();
            if (contact == user) {
                return HookResult::Handled;  // no subscription to oneself
            }
            outboundSubscription(type, user, contact, ctx.stanza);
            return HookResult::Handled;
        }
        if (type.empty() || type == "unavailable") {
            // RFC 6121 §4.6: directed presence; unavailable goes to them when the session ends.
            if (type.empty()) {
                auto& targets = ctx.origin->slot(directedKey_);
                std::string target = ctx.to.full();
                if (targets.size() >= maxDirected_ && !targets.contains(target)) {
                    // Each target costs memory until the session ends: bounded, and the client
                    // hears why this one was not sent (RFC 6120 §8.3.3.18).
                    stanza::StanzaErrorOptions options;
                    options.type = stanza::ErrorType::Wait;
                    options.by = ctx.from.domain();
                    router_.route(stanza::makeStanzaError(
                        ctx.stanza, StanzaCondition::ResourceConstraint,
                        "directed presence to more than " + std::to_string(maxDirected_) +
                            " entities at once; send unavailable presence to some first",
                        options));
                    return HookResult::Handled;
                }
                targets.insert(std::move(target));
            } else if (auto* targets = ctx.origin->findSlot(directedKey_)) {
                targets->erase(ctx.to.full());
            }
        }
        return HookResult::Pass;
    }

    /// RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4: the user's side of the state machine; the stanza
    /// is routed (from the bare JID, to the bare JID) once the user's roster has changed.
    void outboundSubscription(const std::string& type, const Jid& user, const Jid& contact,
                              const xml::Element& original) {
        xml::Element stanza = original;
        stanza.setAttr("from", user.full());
        stanza.setAttr("to", contact.full());
        if (!roster_.hasRoom(user)) {
            replyError(router_, original, StanzaCondition::ResourceConstraint,
                       "too many roster operations waiting for this account; try again",
                       stanza::ErrorType::Wait);
            return;
        }
        roster_.withRoster(user, [this, type, user, contact, original, stanza = std::move(stanza)](
                                     RosterState* roster, Status, Ticket ticket) mutable {
            if (roster == nullptr) {
                replyError(router_, original, StanzaCondition::InternalServerError,
                           "the roster cannot be changed right now", stanza::ErrorType::Wait);
                return;
            }
            const RosterItem* existing = roster->find(contact.full());
            RosterItem item = existing ? *existing : RosterItem{};
            if (!existing) {
                item.jid = contact.full();
                item.inRoster = false;
            }
            auto addToRoster = [&]() {
                if (item.inRoster) {
                    return true;
                }
                if (roster->inRoster >= roster_.maxItems()) {
                    replyError(router_, original, StanzaCondition::PolicyViolation,
                               "your roster is full (" + std::to_string(roster_.maxItems()) +
                                   " contacts at most); remove a contact first");
                    return false;
                }
                item.inRoster = true;
                return true;
            };
            bool route = true;
            bool sendPresence = false;
            bool sendUnavail = false;
            if (type == "subscribe") {
                if (!addToRoster()) {
                    return;
                }
                if (!hasTo(item.subscription)) {
                    item.askOut = true;  // §3.1.2: pending out
                }
            } else if (type == "subscribed") {
                if (item.pendingIn) {
                    // §3.2.2: approving a request.
                    if (!addToRoster()) {
                        return;
                    }
                    item.subscription = item.subscription == Subscription::To ? Subscription::Both
                                                                              : Subscription::From;
                    item.pendingIn = false;
                    item.pendingStanza.clear();
                    item.approved = false;
                    sendPresence = true;
                } else if (hasFrom(item.subscription)) {
                    sendPresence = true;  // nothing changes; the contact hears it again
                } else {
                    // §3.4: pre-approval, kept for the contact's request; nothing is routed.
                    if (!addToRoster()) {
                        return;
                    }
                    item.approved = true;
                    route = false;
                }
            } else if (type == "unsubscribe") {
                item.askOut = false;
                if (item.subscription == Subscription::To) {
                    item.subscription = Subscription::None;
                } else if (item.subscription == Subscription::Both) {
                    item.subscription = Subscription::From;
                }
            } else {  // unsubscribed: §3.2.2 (denial) and §3.3.2 (cancellation)
                const bool wasFrom = hasFrom(item.subscription);
                route = wasFrom || item.pendingIn;
                sendUnavail = wasFrom;
                item.pendingIn = false;
                item.pendingStanza.clear();
                item.approved = false;
                if (item.subscription == Subscription::From) {
                    item.subscription = Subscription::None;
                } else if (item.subscription == Subscription::Both) {
                    item.subscription = Subscription::To;
                }
            }
            auto then = [this, route, sendPresence, sendUnavail, user, contact, original,
                         stanza = std::move(stanza), ticket = std::move(ticket)](bool ok) mutable {
                if (!ok) {
                    replyError(router_, original, StanzaCondition::InternalServerError,
                               "the roster cannot be changed right now", stanza::ErrorType::Wait);
                    return;
                }
                if (route) {
                    router_.route(std::move(stanza));
                }
                if (sendPresence) {
                    sendAvailable(user, contact.full());
                }
                if (sendUnavail) {
                    sendUnavailable(user, contact.full());
                }
            };
            if (existing != nullptr && *existing == item) {
                then(true);
            } else if (!item.inRoster && !item.pendingIn) {
                if (existing != nullptr) {
                    roster_.removeItem(*roster, item.jid, std::move(then));
                } else {
                    then(true);
                }
            } else {
                roster_.saveItem(*roster, std::move(item), std::move(then));
            }
        });
    }

    // --- presence without 'to' (RFC 6121 §4.2, §4.4, §4.5) ---

    HookResult onBroadcast(StanzaContext& ctx) {
        LocalSession& session = *ctx.origin;
        const std::string_view type = ctx.stanza.attr("type");
        const Jid user = ctx.from.bare();
        if (type.empty()) {
            const bool initial = !ctx.previous.available;
            xml::Element presence = ctx.stanza;
            presence.removeAttr("to");
            // Kept for probes and new resources, which each get it with their own addressing.
            xml::Element& last = session.slot(lastKey_);
            last = presence;
            last.removeAttr("from");
            // §4.2.2 / §4.4.2: to every available resource of the account, the sender included.
            reflect(user, presence, nullptr);
            const SessionId id = session.id();
            // An update (not the initial presence, which also starts the login's probes and
            // offline delivery) is refused while a flood of them waits.
            if (!initial && !roster_.hasRoom(user)) {
                replyError(router_, presence, StanzaCondition::ResourceConstraint,
                           "too many presence updates at once; this one reached no contact",
                           stanza::ErrorType::Wait);
                return HookResult::Handled;
            }
            roster_.withRoster(
                user, [this, user, presence, initial, id](RosterState* roster, Status, Ticket) {
                    if (roster == nullptr) {
                        return;
                    }
                    for (const auto& [jid, item] : roster->items) {
                        if (hasFrom(item.subscription) && !blocked(user, *Jid::parse(jid))) {
                            xml::Element p = presence;
                            p.setAttr("to", jid);
                            router_.route(std::move(p));
                        }
                    }
                    if (initial) {
                        initialPresenceDone(*roster, user, id);
                    }
                });
            return HookResult::Handled;
        }
        if (type == "unavailable") {
            const bool wasAvailable = ctx.previous.available;
            session.clearSlot(lastKey_);
            xml::Element presence = ctx.stanza;
            presence.removeAttr("to");
            reflect(user, presence, &session);
            std::set<std::string> directed;
            if (auto* targets = session.findSlot(directedKey_)) {
                directed = std::move(*targets);
                session.clearSlot(directedKey_);
            }
            roster_.withRoster(
                user, [this, user, presence, wasAvailable, directed = std::move(directed)](
                          RosterState* roster, Status, Ticket) {
                    std::set<std::string> sent;
                    if (roster != nullptr && wasAvailable) {
                        for (const auto& [jid, item] : roster->items) {
                            if (hasFrom(item.subscription) && !blocked(user, *Jid::parse(jid))) {
                                xml::Element p = presence;
                                p.setAttr("to", jid);
                                router_.route(std::move(p));
                                sent.insert(jid);
                            }
                        }
                    }
                    // §4.6.3: and to whoever got directed presence.
                    for (const auto& to : directed) {
                        if (!sent.contains(to)) {
                            xml::Element p = presence;
                            p.setAttr("to", to);
                            router_.route(std::move(p));
                        }
                    }
                });
            return HookResult::Handled;
        }
        return HookResult::Handled;  // other types without 'to' mean nothing
    }

    /// The presence to the account's available resources (and to `extra`, the sender of an
    /// unavailable presence, which is no longer available).
    void reflect(const Jid& user, const xml::Element& presence, LocalSession* extra) {
        for (LocalSession* s : router_.sessions().resources(user)) {
            if (s->availability().available || s == extra) {
                xml::Element p = presence;
                p.setAttr("to", s->jid().full());
                s->deliver(p);
            }
        }
    }

    /// RFC 6121 §4.2.2 and §3.1.3: after a session's initial presence went to the contacts, it
    /// learns theirs (probes), that of the account's other resources, and the subscription
    /// requests still waiting for an answer.
    void initialPresenceDone(const RosterState& roster, const Jid& user, SessionId id) {
        LocalSession* session = router_.sessions().findById(id);
        if (session == nullptr || !session->availability().available) {
            return;
        }
        for (const auto& [jid, item] : roster.items) {
            if (hasTo(item.subscription)) {
                probe(*session, *Jid::parse(jid));
            }
        }
        for (LocalSession* other : available(user)) {
            const xml::Element* last = other->findSlot(lastKey_);
            if (other != session && last != nullptr) {
                xml::Element p = *last;
                p.setAttr("from", other->jid().full());
                p.setAttr("to", session->jid().full());
                session->deliver(p);
            }
        }
        for (const auto& [jid, item] : roster.items) {
            if (item.pendingIn) {
                session->deliver(pendingRequest(item, user));
            }
        }
    }

    static xml::Element pendingRequest(const RosterItem& item, const Jid& user) {
        if (!item.pendingStanza.empty()) {
            if (auto stored = decodeStoredStanza(item.pendingStanza)) {
                return std::move(*stored);
            }
        }
        xml::Element p("presence", std::string(ns::kClient));
        p.setAttr("type", "subscribe");
        p.setAttr("from", item.jid);
        p.setAttr("to", user.full());
        return p;
    }

    /// A presence probe for `contact` on behalf of `session` (RFC 6121 §4.3.1). A local
    /// contact's answer comes straight from its sessions when its roster is in memory.
    void probe(LocalSession& session, const Jid& contact) {
        const Jid user = session.jid().bare();
        if (blocked(user, contact)) {
            return;
        }
        if (answerLocalProbe(session, user, contact)) {
            return;
        }
        router_.route(presenceStanza("probe", session.jid(), contact.full()));
    }

    bool answerLocalProbe(LocalSession& session, const Jid& user, const Jid& contact) {
        if (!contact.hasLocal() || !router_.isLocalDomain(contact.domain())) {
            return false;
        }
        const auto& resources = router_.sessions().resources(contact);
        if (resources.empty()) {
            return true;  // offline: the client shows it so without being told
        }
        const RosterState* theirs = roster_.cached(contact);
        if (theirs == nullptr) {
            return false;  // being loaded or changed: the probe waits in its queue
        }
        const RosterItem* item = theirs->find(user.full());
        if (item == nullptr || !hasFrom(item->subscription)) {
            return false;  // the rosters disagree: the contact's side answers (unsubscribed)
        }
        if (blocked(contact, user)) {
            return true;
        }
        for (LocalSession* s : resources) {
            const xml::Element* last = s->findSlot(lastKey_);
            if (s->availability().available && last != nullptr) {
                xml::Element p = *last;
                p.setAttr("from", s->jid().full());
                p.setAttr("to", session.jid().full());
                router_.route(std::move(p));
            }
        }
        return true;
    }

    void onSessionUnavailable(LocalSession& session) {
        // A session that ends without having been available still owes unavailable presence to
        // those it sent directed presence to (§4.6.3); an available one did that through
        // onBroadcast already.
        auto* directed = session.findSlot(directedKey_);
        if (directed == nullptr) {
            return;
        }
        std::set<std::string> targets = std::move(*directed);
        session.clearSlot(directedKey_);
        for (const auto& to : targets) {
            router_.route(presenceStanza("unavailable", session.jid(), to));
        }
    }

    // --- inbound: presence for a local account's bare JID ---

    HookResult onToBare(StanzaContext& ctx) {
        const std::string type(ctx.stanza.attr("type"));
        const Jid user = ctx.to.bare();
        const Jid from = ctx.from;
        if (type.empty() || type == "unavailable" || type == "error") {
            if (router_.sessions().resources(user).empty()) {
                return HookResult::Handled;  // RFC 6121 §8.5.2.2.1: nobody to tell
            }
            // Through the account's queue, so that it never overtakes a subscription change
            // still being written (a contact's presence right after its 'subscribed').
            xml::Element stanza = ctx.stanza;
            if (roster_.cached(user) != nullptr) {
                deliverTo(user, stanza, false);
                return HookResult::Handled;
            }
            if (!roster_.hasRoom(user)) {
                replyError(router_, ctx.stanza, StanzaCondition::ResourceConstraint,
                           "too many roster operations waiting for this account; try again",
                           stanza::ErrorType::Wait);
                return HookResult::Handled;
            }
            roster_.withRoster(
                user, [this, user, stanza = std::move(stanza)](RosterState*, Status, Ticket) {
                    deliverTo(user, stanza, false);
                });
            return HookResult::Handled;
        }
        if (from.bare() == user) {
            return HookResult::Handled;  // no subscriptions to oneself
        }
        if (type == "probe") {
            inboundProbe(user, from);
        } else if (isSubscriptionType(type)) {
            inboundSubscription(type, user, from.bare(), ctx.stanza);
        }
        return HookResult::Handled;
    }

    /// RFC 6121 §4.3.2.
    void inboundProbe(const Jid& user, const Jid& from) {
        if (!roster_.hasRoom(user)) {
            return;  // not worth an error: the contact probes again at its next login
        }
        roster_.withRoster(user, [this, user, from](RosterState* roster, Status status, Ticket) {
            if (status == Status::Unavailable) {
                return;
            }
            const RosterItem* item = roster ? roster->find(from.bare().full()) : nullptr;
            if (item == nullptr || !hasFrom(item->subscription)) {
                // Not entitled (and no such account looks the same).
                router_.route(presenceStanza("unsubscribed", user, from.bare().full()));
                return;
            }
            if (sendAvailable(user, from.full()) == 0) {
                router_.route(presenceStanza("unavailable", user, from.full()));
            }
        });
    }

    /// RFC 6121 §3.1.3, §3.2.3, §3.3.3, §3.4: the contact's side of the state machine.
    void inboundSubscription(const std::string& type, const Jid& user, const Jid& contact,
                             const xml::Element& original) {
        xml::Element stanza = original;
        stanza.setAttr("from", contact.full());
        stanza.setAttr("to", user.full());
        if (!roster_.hasRoom(user)) {
            replyError(router_, original, StanzaCondition::ResourceConstraint,
                       "too many roster operations waiting for this account; try again",
                       stanza::ErrorType::Wait);
            return;
        }
        roster_.withRoster(user, [this, type, user, contact, stanza = std::move(stanza)](
                                     RosterState* roster, Status status, Ticket ticket) mutable {
            if (roster == nullptr) {
                // No such account: ignored like everything else sent to it, so that nobody
                // learns whether it exists. A database failure loses the request; the contact's
                // client sends it again at its next login.
                if (status == Status::Unavailable) {
                    log::warn("presence: {} for {} lost: database unavailable", type, user.full());
                }
                return;
            }
            const RosterItem* existing = roster->find(contact.full());
            RosterItem item = existing ? *existing : RosterItem{};
            if (!existing) {
                item.jid = contact.full();
                item.inRoster = false;
            }
            enum class After { Nothing, Approve, DeliverAvailable, DeliverInterested };
            After after = After::Nothing;
            bool sendUnavail = false;
            if (type == "subscribe") {
                if (hasFrom(item.subscription)) {
                    // §3.1.3: already subscribed: approve again at once, deliver nothing.
                    autoApprove(user, contact);
                    return;
                }
                if (item.approved) {
                    // §3.4: pre-approved.
                    item.subscription = item.subscription == Subscription::To ? Subscription::Both
                                                                              : Subscription::From;
                    item.approved = false;
                    item.pendingIn = false;
                    item.pendingStanza.clear();
                    after = After::Approve;
                } else if (item.pendingIn) {
                    return;  // already waiting for an answer: no second copy
                } else {
                    if (!existing && pendingOnly(*roster) >= roster_.maxItems()) {
                        log::info("presence: too many pending requests for {}; dropped",
                                  user.full());
                        return;
                    }
                    // Kept until answered, delivered again at each login (XEP-0160 §5: with the
                    // time it came).
                    xml::Element kept = stanza;
                    kept.addChild(
                        stanza::delayElement(user.domain(), std::chrono::system_clock::now()));
                    item.pendingIn = true;
                    item.pendingStanza = encodeStoredStanza(kept);
                    after = After::DeliverAvailable;
                }
            } else if (type == "subscribed") {
                // §3.2.3: only an answer to a request of ours counts.
                if (!item.askOut) {
                    return;
                }
                item.askOut = false;
                item.subscription =
                    item.subscription == Subscription::From ? Subscription::Both : Subscription::To;
                after = After::DeliverInterested;
            } else if (type == "unsubscribe") {
                // §3.3.3: the contact no longer wants the user's presence.
                const bool wasFrom = hasFrom(item.subscription);
                if (!wasFrom && !item.pendingIn) {
                    return;
                }
                item.pendingIn = false;
                item.pendingStanza.clear();
                if (item.subscription == Subscription::From) {
                    item.subscription = Subscription::None;
                } else if (item.subscription == Subscription::Both) {
                    item.subscription = Subscription::To;
                }
                after = After::DeliverInterested;
                sendUnavail = wasFrom;
            } else {  // unsubscribed: §3.2.3 (denied) and §3.3.3 (cancelled)
                if (!item.askOut && !hasTo(item.subscription)) {
                    return;
                }
                item.askOut = false;
                if (item.subscription == Subscription::To) {
                    item.subscription = Subscription::None;
                } else if (item.subscription == Subscription::Both) {
                    item.subscription = Subscription::From;
                }
                after = After::DeliverInterested;
            }
            auto then = [this, after, sendUnavail, user, contact, stanza = std::move(stanza),
                         ticket = std::move(ticket)](bool ok) {
                if (!ok) {
                    return;  // logged by the roster module; the contact may ask again
                }
                switch (after) {
                    case After::Approve:
                        autoApprove(user, contact);
                        break;
                    case After::DeliverAvailable:
                        deliverTo(user, stanza, false);
                        break;
                    case After::DeliverInterested:
                        deliverTo(user, stanza, true);
                        break;
                    case After::Nothing:
                        break;
                }
                if (sendUnavail) {
                    sendUnavailable(user, contact.full());
                }
            };
            if (!item.inRoster && !item.pendingIn) {
                if (existing != nullptr) {
                    roster_.removeItem(*roster, item.jid, std::move(then));
                } else {
                    then(true);
                }
            } else {
                roster_.saveItem(*roster, std::move(item), std::move(then));
            }
        });
    }

    /// 'subscribed' on the user's behalf, then the user's presence (RFC 6121 §3.1.3, §3.4).
    void autoApprove(const Jid& user, const Jid& contact) {
        router_.route(presenceStanza("subscribed", user, contact.full()));
        if (!blocked(user, contact) && sendAvailable(user, contact.full()) == 0) {
            router_.route(presenceStanza("unavailable", user, contact.full()));
        }
    }

    static std::size_t pendingOnly(const RosterState& roster) {
        return roster.items.size() - roster.inRoster;
    }

    // --- XEP-0191 §3.3, §3.4: what a block or an unblock changes in presence ---

    void onBlocklistChange(const Jid& user, const std::vector<Jid>& blockedNow,
                           const std::vector<Jid>& unblocked) {
        // The directed-presence targets that are now blocked get their unavailable at once.
        std::set<std::string> directedTargets;
        for (LocalSession* s : router_.sessions().resources(user)) {
            auto* directed = s->findSlot(directedKey_);
            if (directed == nullptr) {
                continue;
            }
            for (auto d = directed->begin(); d != directed->end();) {
                auto target = Jid::parse(*d);
                bool hit = false;
                for (const Jid& entry : blockedNow) {
                    hit = hit || (target && blockEntryMatches(entry, *target));
                }
                if (hit) {
                    router_.route(presenceStanza("unavailable", s->jid(), *d));
                    d = directed->erase(d);
                } else {
                    ++d;
                }
            }
        }
        roster_.withRoster(
            user, [this, user, blockedNow, unblocked](RosterState* roster, Status, Ticket) {
                if (roster == nullptr) {
                    return;
                }
                for (const auto& [jid, item] : roster->items) {
                    const Jid contact = *Jid::parse(jid);
                    for (const Jid& entry : blockedNow) {
                        if (hasFrom(item.subscription) && entryCoversContact(entry, contact)) {
                            // A block of one full JID concerns that resource only.
                            sendUnavailable(user, entry.hasResource() && entry.hasLocal()
                                                      ? entry.full()
                                                      : contact.full());
                        }
                    }
                    bool nowUnblocked = false;
                    for (const Jid& entry : unblocked) {
                        nowUnblocked = nowUnblocked || entryCoversContact(entry, contact);
                    }
                    if (!nowUnblocked || blocked(user, contact)) {
                        continue;
                    }
                    if (hasFrom(item.subscription)) {
                        sendAvailable(user, contact.full());
                    }
                    if (hasTo(item.subscription)) {
                        for (LocalSession* s : available(user)) {
                            probe(*s, contact);
                        }
                    }
                }
            });
    }

    router::Router& router_;
    RosterModule& roster_;
    BlockingModule* blocking_;
    std::size_t maxDirected_;
    /// A session's last available presence without 'from' and 'to' (RFC 6121 §4.2, §4.4),
    /// absent while it is unavailable.
    router::SlotKey<xml::Element> lastKey_;
    /// Where a session sent directed presence (RFC 6121 §4.6): they get its unavailable.
    router::SlotKey<std::set<std::string>> directedKey_;
};

// Presence comes with the roster (modules.roster.enabled): subscriptions live there.
const ModuleRegistrar kRegistrar({
    .name = "presence",
    .section = "roster",
    .needs = {Need::required<RosterModule>(), Need::optional<BlockingModule>()},
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<PresenceModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
