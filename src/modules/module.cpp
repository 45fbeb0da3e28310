#include "modules/module.h"

#include "modules/blocking.h"
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
    void addImCoreModules(ModuleContext&, std::vector<ModulePtr>&);  // modules/roster.h
    addImCoreModules(context, modules);
    // --- IM features: disco, version, time, last, vcard, private, register ---
    // (declared here rather than by #include so that this block is the only edit to the file:
    // modules/disco.h, version.h, time.h, last.h, vcard.h, private_storage.h, register.h)
    ModulePtr makeDiscoModule(ModuleContext&), makeVersionModule(ModuleContext&),
        makeTimeModule(ModuleContext&), makeLastModule(ModuleContext&),
        makeVcardModule(ModuleContext&), makePrivateStorageModule(ModuleContext&),
        makeRegisterModule(ModuleContext&);
    if (enabled("disco")) {
        modules.push_back(makeDiscoModule(context));
    }
    if (enabled("version")) {
        modules.push_back(makeVersionModule(context));
    }
    if (enabled("time")) {
        modules.push_back(makeTimeModule(context));
    }
    if (enabled("last")) {
        modules.push_back(makeLastModule(context));
    }
    if (enabled("vcard")) {
        modules.push_back(makeVcardModule(context));
    }
    if (enabled("private")) {
        modules.push_back(makePrivateStorageModule(context));
    }
    // Always: password change and account removal; `enabled` switches only new registrations.
    modules.push_back(makeRegisterModule(context));
    // --- calls: STUN and TURN services (XEP-0215) ---
    ModulePtr makeExtdiscoModule(ModuleContext&);  // modules/extdisco.h
    if (enabled("extdisco")) {
        if (ModulePtr extdisco = makeExtdiscoModule(context)) {
            modules.push_back(std::move(extdisco));
        }
    }
    // --- PEP --- (after disco: it answers the accounts' disco#items in its place)
    ModulePtr makePepModule(ModuleContext&, BlockingModule*);  // modules/pep.h
    if (enabled("pep")) {
        BlockingModule* blocking = nullptr;
        for (const auto& m : modules) {
            if (m->name() == "blocking") {
                blocking = static_cast<BlockingModule*>(m.get());
            }
        }
        modules.push_back(makePepModule(context, blocking));
    }
    // --- HTTP file upload (XEP-0363) ---
    ModulePtr makeUploadModule(ModuleContext&);  // modules/upload.cpp
    if (enabled("upload")) {
        modules.push_back(makeUploadModule(context));
    }
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
