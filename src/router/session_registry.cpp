#include "router/session_registry.h"

#include <algorithm>

namespace corvid::router {

namespace {

/// "local@domain" of a JID, as a view into its text (no copy).
std::string_view bareText(const stanza::Jid& jid) {
    const std::string_view full = jid.full();
    return jid.hasResource() ? full.substr(0, full.size() - jid.resource().size() - 1) : full;
}

}  // namespace

void SessionRegistry::add(LocalSession& session) {
    // The key views the JID of a session in its list (see byBare_).
    byBare_[bareText(session.jid())].push_back(&session);
    byId_[session.id()] = &session;
}

void SessionRegistry::remove(LocalSession& session) {
    if (byId_.erase(session.id()) == 0) {
        return;
    }
    auto it = byBare_.find(bareText(session.jid()));
    if (it == byBare_.end()) {
        return;
    }
    std::erase(it->second, &session);
    if (it->second.empty()) {
        byBare_.erase(it);
    } else if (it->first.data() == session.jid().full().data()) {
        // The key viewed the leaving session's JID: view one that stays instead.
        auto node = byBare_.extract(it);
        node.key() = bareText(node.mapped().front()->jid());
        byBare_.insert(std::move(node));
    }
}

LocalSession* SessionRegistry::find(const stanza::Jid& full) const {
    auto it = byBare_.find(bareText(full));
    if (it == byBare_.end()) {
        return nullptr;
    }
    for (LocalSession* s : it->second) {
        if (s->jid().resource() == full.resource()) {
            return s;
        }
    }
    return nullptr;
}

LocalSession* SessionRegistry::findById(SessionId id) const {
    auto it = byId_.find(id);
    return it == byId_.end() ? nullptr : it->second;
}

const std::vector<LocalSession*>& SessionRegistry::resources(const stanza::Jid& bare) const {
    static const std::vector<LocalSession*> kNone;
    // Its whole text: a full JID names no account, as when the key was a Jid.
    auto it = byBare_.find(std::string_view(bare.full()));
    return it == byBare_.end() ? kNone : it->second;
}

std::vector<LocalSession*> SessionRegistry::deliverable(const stanza::Jid& bare) const {
    std::vector<LocalSession*> out;
    for (LocalSession* s : resources(bare)) {
        if (s->availability().deliverable()) {
            out.push_back(s);
        }
    }
    return out;
}

std::vector<LocalSession*> SessionRegistry::highestPriority(const stanza::Jid& bare) const {
    std::vector<LocalSession*> all = deliverable(bare);
    if (all.empty()) {
        return all;
    }
    auto priority = [](const LocalSession* s) { return s->availability().priority; };
    const int top = priority(*std::max_element(
        all.begin(), all.end(), [&](auto* a, auto* b) { return priority(a) < priority(b); }));
    std::erase_if(all, [&](LocalSession* s) { return priority(s) != top; });
    return all;
}

}  // namespace corvid::router
