#include "router/hooks.h"

#include <cassert>

#include <algorithm>

namespace corvid::router {

HookHandle Hooks::add(Event event, int priority, StanzaHandler handler) {
    auto& list = stanzaHandlers_[static_cast<int>(event)];
    const std::uint64_t id = nextId_++;
    // Keep the list sorted by descending priority; equal priorities run in registration order.
    auto pos = std::find_if(list.begin(), list.end(),
                            [priority](const Entry& e) { return e.priority < priority; });
    list.insert(pos, Entry{id, priority, std::move(handler)});
    return HookHandle([this, event, id] {
        std::erase_if(stanzaHandlers_[static_cast<int>(event)],
                      [id](const Entry& e) { return e.id == id; });
    });
}

HookResult Hooks::fire(Event event, StanzaContext& context) const {
    for (const auto& entry : stanzaHandlers_[static_cast<int>(event)]) {
        if (entry.handler(context) == HookResult::Handled) {
            return HookResult::Handled;
        }
    }
    return HookResult::Pass;
}

HookHandle Hooks::addIq(IqTarget target, std::string ns, std::string name, IqHandler handler) {
    IqKey key{target, std::move(ns), std::move(name)};
    iqHandlers_[key] = std::move(handler);
    return HookHandle([this, key] { iqHandlers_.erase(key); });
}

const IqHandler* Hooks::findIq(IqTarget target, std::string_view ns, std::string_view name) const {
    auto it = iqHandlers_.find(IqKey{target, std::string(ns), std::string(name)});
    return it == iqHandlers_.end() ? nullptr : &it->second;
}

HookHandle Hooks::onSession(SessionEvent event, SessionHandler handler) {
    const std::uint64_t id = nextId_++;
    sessionHandlers_.emplace_back(id, std::make_pair(event, std::move(handler)));
    return HookHandle(
        [this, id] { std::erase_if(sessionHandlers_, [id](auto& e) { return e.first == id; }); });
}

void Hooks::fireSession(SessionEvent event, LocalSession& session) const {
    for (const auto& [id, entry] : sessionHandlers_) {
        if (entry.first == event) {
            entry.second(session);
        }
    }
}

HookHandle Hooks::addStreamFeature(xml::Element feature) {
    const std::uint64_t id = nextId_++;
    streamFeatures_.emplace_back(id, std::move(feature));
    return HookHandle(
        [this, id] { std::erase_if(streamFeatures_, [id](auto& e) { return e.first == id; }); });
}

std::vector<xml::Element> Hooks::streamFeatures() const {
    std::vector<xml::Element> out;
    for (const auto& [id, f] : streamFeatures_) {
        out.push_back(f);
    }
    return out;
}

HookHandle Hooks::addPreAuthIq(std::string ns, PreAuthIqHandler handler) {
    std::string key = ns;
    preAuthIqs_[key] = std::move(handler);
    return HookHandle([this, key] { preAuthIqs_.erase(key); });
}

const Hooks::PreAuthIqHandler* Hooks::findPreAuthIq(std::string_view ns) const {
    auto it = preAuthIqs_.find(ns);
    return it == preAuthIqs_.end() ? nullptr : &it->second;
}

HookHandle Hooks::addNonza(std::string ns, std::string name, NonzaHandler handler) {
    auto key = std::make_pair(std::move(ns), std::move(name));
    auto [it, inserted] = nonzas_.emplace(key, std::move(handler));
    assert(inserted);  // one handler per element
    (void)inserted;
    return HookHandle([this, it] { nonzas_.erase(it); });
}

const Hooks::NonzaHandler* Hooks::findNonza(std::string_view ns, std::string_view name) const {
    // The map's pair keys compare with std::less<>; a transparent look-up needs pair views.
    auto it = nonzas_.find(std::make_pair(std::string(ns), std::string(name)));
    return it == nonzas_.end() ? nullptr : &it->second;
}

HookHandle Hooks::addFeature(IqTarget target, std::string feature) {
    const std::uint64_t id = nextId_++;
    features_.emplace_back(id, std::make_pair(target, std::move(feature)));
    return HookHandle(
        [this, id] { std::erase_if(features_, [id](auto& e) { return e.first == id; }); });
}

std::vector<std::string> Hooks::features(IqTarget target) const {
    std::vector<std::string> out;
    for (const auto& [id, f] : features_) {
        if (f.first == target) {
            out.push_back(f.second);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace corvid::router
