#include "router/session_registry.h"

#include <algorithm>

namespace corvid::router {

void SessionRegistry::add(LocalSession& session) {
    byBare_[session.jid().bare()].push_back(&session);
    byId_[session.id()] = &session;
}

void SessionRegistry::remove(LocalSession& session) {
    if (byId_.erase(session.id()) == 0) {
        return;
    }
    auto it = byBare_.find(session.jid().bare());
    if (it != byBare_.end()) {
        std::erase(it->second, &session);
        if (it->second.empty()) {
            byBare_.erase(it);
        }
    }
}

LocalSession* SessionRegistry::find(const stanza::Jid& full) const {
    auto it = byBare_.find(full.bare());
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
    auto it = byBare_.find(bare);
    return it == byBare_.end() ? kNone : it->second;
}

std::vector<LocalSession*> SessionRegistry::deliverable(const stanza::Jid& bare) const {
    std::vector<LocalSession*> out;
    for (LocalSession* s : resources(bare)) {
        if (s->available && s->priority >= 0) {
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
    const int top = (*std::max_element(all.begin(), all.end(), [](auto* a, auto* b) {
                        return a->priority < b->priority;
                    }))->priority;
    std::erase_if(all, [top](LocalSession* s) { return s->priority != top; });
    return all;
}

}  // namespace corvid::router
