#include "modules/offline.h"

#include <chrono>
#include <deque>
#include <unordered_map>
#include <vector>

#include "modules/offline_codec.h"
#include "modules/roster.h"  // replyError
#include "stanza/ns.h"
#include "storage/offline_store.h"
#include "util/log.h"

namespace corvid::modules {

using router::HookResult;
using router::LocalSession;
using router::SessionId;
using router::StanzaContext;
using stanza::Jid;
using stanza::StanzaCondition;
namespace ns = stanza::ns;

namespace {

// Messages taken out per statement while delivering: bounds the memory of one delivery.
constexpr int kTakeBatch = 100;

/// XEP-0160 §3 and XEP-0334: what is worth keeping. Chat states alone are not (XEP-0085 §5.5),
/// nor what the sender marked no-store; a body or any other payload is.
bool worthStoring(const xml::Element& message) {
    if (message.findChild("no-store", ns::kHints) != nullptr ||
        message.findChild("no-permanent-store", ns::kHints) != nullptr) {
        return message.findChild("store", ns::kHints) != nullptr;
    }
    for (const xml::Element* child : message.childElements()) {
        const std::string& childNs = child->ns();
        if (child->is("thread", ns::kClient) || childNs == ns::kChatStates ||
            childNs == ns::kHints) {
            continue;
        }
        return true;
    }
    return false;
}

int priorityOf(const xml::Element& presence) {
    const xml::Element* p = presence.findChild("priority");
    if (p == nullptr) {
        return 0;
    }
    // Only the sign matters here; the presence module parses it fully.
    const std::string text = p->text();
    return text.find('-') != std::string::npos ? -1 : 0;
}

class OfflineModule final : public Module {
  public:
    explicit OfflineModule(ModuleContext& context)
        : router_(context.router),
          store_(context.database),
          maxMessages_(context.config.module("offline").options.getInt("max_messages")),
          blocking_(context.config.module("blocking").enabled) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.add(router::Event::MessageOffline, 50,
                                   [this](StanzaContext& c) { return onOffline(c); }));
        // Before the presence module, which updates the session: we compare before and after.
        hooks_.push_back(hooks.add(router::Event::PresenceBroadcast, 100,
                                   [this](StanzaContext& c) { return onPresence(c); }));
        hooks_.push_back(hooks.addFeature(router::IqTarget::Host, std::string(ns::kMsgOffline)));
    }
    std::string_view name() const override { return "offline"; }

  private:
    struct Pending {
        std::string xml;
        xml::Element original;               // for an error to the sender
        std::vector<std::string> blockedIf;  // the sender as blocklist entries may name it
    };

    /// The blocking module filters only accounts it holds in memory (those with sessions); for
    /// the others the blocklist is checked by the INSERT itself (XEP-0191 §3.5).
    std::vector<std::string> blockedIf(const Jid& sender) const {
        if (!blocking_) {
            return {};
        }
        std::vector<std::string> forms{sender.full(), sender.bare().full(),
                                       std::string(sender.domain())};
        if (sender.hasResource()) {
            forms.push_back(std::string(sender.domain()) + "/" + std::string(sender.resource()));
        }
        return forms;
    }
    struct StoreQueue {
        std::deque<Pending> pending;
        bool running = false;
    };

    struct Delivery {
        SessionId target = 0;
        bool running = false;
        bool again = false;
    };

    HookResult onOffline(StanzaContext& ctx) {
        const xml::Element& message = ctx.stanza;
        const Jid user = ctx.to.bare();
        if (!worthStoring(message)) {
            return HookResult::Handled;  // dropped, as RFC 6121 §8.5.2.2.1 allows
        }
        xml::Element kept = message;
        kept.addChild(delayElement(user.domain(), std::chrono::system_clock::now()));
        // One INSERT per account at a time: the pool's connections run in no particular order,
        // and the ids (the delivery order) must follow the order the messages came in.
        StoreQueue& queue = stores_[user];
        queue.pending.push_back(Pending{encodeStoredStanza(kept), message, blockedIf(ctx.from)});
        if (!queue.running) {
            queue.running = true;
            storeNext(user);
        }
        return HookResult::Handled;
    }

    void storeNext(const Jid& user) {
        StoreQueue& queue = stores_[user];
        if (queue.pending.empty()) {
            stores_.erase(user);
            return;
        }
        Pending next = std::move(queue.pending.front());
        queue.pending.pop_front();
        // The sender hears about it only when it fails: the message is not taken for delivered
        // before PostgreSQL has confirmed the INSERT.
        store_.store(user.domain(), user.local(), next.xml, maxMessages_, next.blockedIf,
                     [this, user, original = std::move(next.original)](
                         std::expected<storage::OfflineStoreOutcome, storage::StoreError> r) {
                         stored(user, original, std::move(r));
                         storeNext(user);
                     });
    }

    void stored(const Jid& user, const xml::Element& original,
                std::expected<storage::OfflineStoreOutcome, storage::StoreError> r) {
        if (!r) {
            log::warn("offline: cannot store a message for {}: {}", user.full(), r.error().message);
            replyError(router_, original, StanzaCondition::InternalServerError,
                       "the message could not be stored; try again later", stanza::ErrorType::Wait);
            return;
        }
        switch (*r) {
            case storage::OfflineStoreOutcome::Stored:
                storedWhileAvailable(user);
                return;
            case storage::OfflineStoreOutcome::NoAccount:
                return;  // silently, like a stored one (no account enumeration)
            case storage::OfflineStoreOutcome::Blocked:
                return;  // XEP-0191 §3.5: dropped without a word
            case storage::OfflineStoreOutcome::QuotaExceeded:
                replyError(router_, original, StanzaCondition::ResourceConstraint,
                           "the recipient's offline storage is full", stanza::ErrorType::Wait);
                return;
        }
    }

    /// A store that was on its way while the user came online may have missed that delivery.
    void storedWhileAvailable(const Jid& user) {
        auto targets = router_.sessions().highestPriority(user);
        if (!targets.empty()) {
            deliver(user, targets.front()->id());
        }
    }

    HookResult onPresence(StanzaContext& ctx) {
        LocalSession& session = *ctx.origin;
        if (!ctx.stanza.attr("type").empty()) {
            return HookResult::Pass;
        }
        // XEP-0160 §3: delivered when a resource becomes available with non-negative priority.
        const bool before = session.available && session.priority >= 0;
        const bool after = priorityOf(ctx.stanza) >= 0;
        if (!before && after) {
            deliver(ctx.from.bare(), session.id());
        }
        return HookResult::Pass;
    }

    void deliver(const Jid& user, SessionId target) {
        Delivery& d = deliveries_[user];
        d.target = target;
        if (d.running) {
            d.again = true;  // one delivery per account at a time keeps the order
            return;
        }
        d.running = true;
        takeNext(user);
    }

    void takeNext(const Jid& user) {
        deliveries_[user].again = false;
        store_.take(user.domain(), user.local(), kTakeBatch,
                    [this, user](std::expected<storage::OfflineBatch, storage::StoreError> r) {
                        onTaken(user, std::move(r));
                    });
    }

    void onTaken(const Jid& user, std::expected<storage::OfflineBatch, storage::StoreError> r) {
        Delivery& d = deliveries_[user];
        if (!r) {
            log::warn("offline: cannot read the messages of {}: {}", user.full(),
                      r.error().message);
            deliveries_.erase(user);
            return;
        }
        // Deleted from the table by now: written to the client right here, or put back.
        LocalSession* session = router_.sessions().findById(d.target);
        if (session == nullptr || !session->available || session->priority < 0) {
            auto targets = router_.sessions().highestPriority(user);
            session = targets.empty() ? nullptr : targets.front();
        }
        const bool more = static_cast<int>(r->messages.size()) == kTakeBatch;
        if (session == nullptr) {
            restore(user, std::move(*r));
            deliveries_.erase(user);
            return;
        }
        for (const auto& m : r->messages) {
            auto stanza = decodeStoredStanza(m.stanza);
            if (!stanza) {
                log::warn("offline: dropping an unreadable stored message {} of {}", m.id,
                          user.full());
                continue;
            }
            session->deliver(*stanza);
        }
        if (more || d.again) {
            takeNext(user);
            return;
        }
        deliveries_.erase(user);
    }

    void restore(const Jid& user, storage::OfflineBatch batch) {
        if (batch.messages.empty()) {
            return;
        }
        const std::size_t n = batch.messages.size();
        store_.restore(batch.accountId, std::move(batch.messages),
                       [user, n](std::expected<void, storage::StoreError> r) {
                           if (!r) {
                               log::error("offline: {} message(s) of {} lost: {}", n, user.full(),
                                          r.error().message);
                           }
                       });
    }

    router::Router& router_;
    storage::OfflineStore store_;
    std::int64_t maxMessages_;
    bool blocking_;
    std::unordered_map<Jid, StoreQueue> stores_;
    std::unordered_map<Jid, Delivery> deliveries_;
};

}  // namespace

ModulePtr makeOfflineModule(ModuleContext& context) {
    return std::make_unique<OfflineModule>(context);
}

}  // namespace corvid::modules
