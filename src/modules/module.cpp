#include "modules/module.h"

#include "modules/ping.h"
#include "stanza/ns.h"

namespace corvid::modules {

std::vector<ModulePtr> loadModules(ModuleContext& context) {
    std::vector<ModulePtr> modules;
    auto enabled = [&](std::string_view name) { return context.config.module(name).enabled; };
    if (enabled("ping")) {
        modules.push_back(makePingModule(context));
    }
    // --- IM core: roster, presence, offline, blocking (in this order) ---
    // --- IM features: disco, version, time, last, vcard, private, register ---
    // --- PEP ---
    return modules;
}

void replyResult(router::Router& router, const xml::Element& iq, const stanza::Jid& from,
                 const stanza::Jid& to, std::optional<xml::Element> payload) {
    xml::Element result("iq", std::string(stanza::ns::kClient));
    result.setAttr("type", "result");
    result.setAttr("id", std::string(iq.attr("id")));
    result.setAttr("from", to.full());
    result.setAttr("to", from.full());
    if (payload) {
        result.addChild(std::move(*payload));
    }
    router.route(std::move(result));
}

}  // namespace corvid::modules
