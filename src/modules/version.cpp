#include "modules/version.h"

#include <sys/utsname.h>

#include "modules/module_registry.h"
#include "stanza/ns.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;

/// "Linux 6.1.0-13-amd64": the kernel's name and release, read once at start (uname() is a
/// cheap system call, but nothing about it changes while we run).
std::string operatingSystem() {
    utsname u{};
    if (uname(&u) != 0) {
        return {};
    }
    return std::string(u.sysname) + " " + u.release;
}

/// XEP-0092 Software Version for the server. Options: hide (answer nothing, as if the module
/// were off: service-unavailable) and hide_os (leave <os/> out).
class VersionModule final : public Module {
  public:
    explicit VersionModule(ModuleContext& context) {
        const conf::OptionTable& options = context.config.options;
        if (options.getBool("hide")) {
            return;  // no handler, no feature: the router answers service-unavailable
        }
        xml::Element query("query", std::string(ns::kVersion));
        query.addTextChild("name", kSoftwareName);
        query.addTextChild("version", kSoftwareVersion);
        if (!options.getBool("hide_os")) {
            if (std::string os = operatingSystem(); !os.empty()) {
                query.addTextChild("os", os);
            }
        }
        router::Router& router = context.router;
        hooks_.push_back(router.hooks().addIq(
            router::IqTarget::Host, std::string(ns::kVersion), "query",
            [&router, query = std::move(query)](const xml::Element& iq, const stanza::Jid& from,
                                                const stanza::Jid& to, router::LocalSession*) {
                if (iq.attr("type") != "get") {
                    router.bounce(iq, stanza::StanzaCondition::NotAllowed,
                                  "jabber:iq:version is get only");
                    return;
                }
                replyResult(router, iq, from, to, query);
            }));
        hooks_.push_back(
            router.hooks().addFeature(router::IqTarget::Host, std::string(ns::kVersion)));
    }
};

const ModuleRegistrar kRegistrar({
    .name = "version",
    .section = "version",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<VersionModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
