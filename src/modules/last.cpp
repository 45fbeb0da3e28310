#include <chrono>

#include "modules/module_registry.h"
#include "stanza/ns.h"
#include "storage/last_store.h"
#include "util/log.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;
using router::IqTarget;
using stanza::Jid;
using stanza::StanzaCondition;

xml::Element lastQuery(std::int64_t seconds, std::string_view status = {}) {
    xml::Element query("query", std::string(ns::kLast));
    query.setAttr("seconds", std::to_string(seconds));
    if (!status.empty()) {
        query.addText(status);
    }
    return query;
}

/// XEP-0012 Last Activity: the server's uptime (§4) and, for an account's bare JID, the time
/// since its last resource went away with the status of its last unavailable presence (§3),
/// recorded in PostgreSQL when that happens.
class LastModule final : public Module {
  public:
    explicit LastModule(ModuleContext& context)
        : router_(context.router),
          store_(context.database),
          started_(std::chrono::steady_clock::now()),
          statusKey_(router_.hooks().declareSlot<std::string>()) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.addIq(IqTarget::Host, std::string(ns::kLast), "query",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            router::LocalSession*) { uptime(iq, from, to); }));
        hooks_.push_back(hooks.addIq(IqTarget::Account, std::string(ns::kLast), "query",
                                     [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                            router::LocalSession*) { account(iq, from, to); }));
        hooks_.push_back(hooks.addFeature(IqTarget::Host, std::string(ns::kLast)));
        hooks_.push_back(hooks.addFeature(IqTarget::Account, std::string(ns::kLast)));

        // The status of a resource's last unavailable presence: an observer that runs before the
        // presence handlers and lets everything pass.
        hooks_.push_back(hooks.add(router::Event::OutboundFromLocal, kObserverPriority,
                                   [this](router::StanzaContext& ctx) {
                                       notePresence(ctx);
                                       return router::HookResult::Pass;
                                   }));
        hooks_.push_back(hooks.onSession(router::SessionEvent::Closed,
                                         [this](router::LocalSession& s) { closed(s); }));
    }

  private:
    static constexpr int kObserverPriority = 10000;

    /// XEP-0012 §4: to a server, the seconds since it started.
    void uptime(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (iq.attr("type") != "get") {
            router_.bounce(iq, StanzaCondition::NotAllowed, "jabber:iq:last is get only");
            return;
        }
        auto up = std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::steady_clock::now() - started_);
        replyResult(router_, iq, from, to, lastQuery(up.count()));
    }

    /// XEP-0012 §3: only those allowed to see the account's presence (a subscription of type
    /// from or both, RFC 6121 §3) may learn when it was last online; everyone else gets forbidden
    /// (§3, §8: no presence leak), whether the account exists or not. Blocked entities never get
    /// this far (the blocking module filters stanzas to the account first).
    void account(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (iq.attr("type") != "get") {
            router_.bounce(iq, StanzaCondition::NotAllowed, "jabber:iq:last is get only");
            return;
        }
        if (from.bare() == to) {
            // The account itself, connected since it asks: 0 (XEP-0012 §3).
            replyResult(router_, iq, from, to, lastQuery(0));
            return;
        }
        // The router outlives the database's callbacks (the server destroys the database first).
        router::Router& router = router_;
        store_.getFor(
            to.domain(), to.local(), from.bare().full(),
            [&router, iq, from,
             to](std::expected<storage::LastActivityView, storage::StoreError> r) {
                if (!r) {
                    log::warn("last activity of {}: {}", to.full(), r.error().message);
                    router.bounce(iq, StanzaCondition::InternalServerError);
                } else if (!r->allowed) {
                    router.bounce(iq, StanzaCondition::Forbidden);
                } else if (!router.sessions().resources(to).empty()) {
                    // XEP-0012 §3: a user with a connected resource answers 0.
                    replyResult(router, iq, from, to, lastQuery(0));
                } else if (!r->last) {
                    router.bounce(iq, StanzaCondition::ItemNotFound, "no logout recorded");
                } else {
                    replyResult(router, iq, from, to, lastQuery(r->last->seconds, r->last->status));
                }
            });
    }

    void notePresence(const router::StanzaContext& ctx) {
        const xml::Element& stanza = ctx.stanza;
        if (ctx.origin == nullptr || stanza.name() != "presence" || stanza.hasAttr("to")) {
            return;
        }
        const std::string_view type = stanza.attr("type");
        if (type == "unavailable") {
            ctx.origin->slot(statusKey_) = stanza.childText("status");
        } else if (type.empty()) {
            ctx.origin->clearSlot(statusKey_);
        }
    }

    /// When an account's last resource goes away, its logout is recorded (XEP-0012 §3).
    void closed(router::LocalSession& session) {
        std::string status;
        if (std::string* last = session.findSlot(statusKey_)) {
            status = std::move(*last);
        }
        const Jid bare = session.jid().bare();
        if (!router_.sessions().resources(bare).empty()) {
            return;  // another resource is still online
        }
        store_.setLogout(bare.domain(), bare.local(), status,
                         [bare](std::expected<void, storage::StoreError> r) {
                             // NotFound: the account was removed while its session was closing.
                             if (!r && r.error().kind != storage::StoreErrorKind::NotFound) {
                                 log::warn("cannot record the logout of {}: {}", bare.full(),
                                           r.error().message);
                             }
                         });
    }

    router::Router& router_;
    storage::LastStore store_;
    std::chrono::steady_clock::time_point started_;
    /// The status of the session's last unavailable presence (XEP-0012 §3).
    router::SlotKey<std::string> statusKey_;
};

const ModuleRegistrar kRegistrar({
    .name = "last",
    .section = "last",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<LastModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
