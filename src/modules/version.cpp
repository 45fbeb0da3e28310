#include "modules/version.h"

#include <sys/utsname.h>

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

class VersionModule final : public Module {
  public:
    explicit VersionModule(ModuleContext& context) {
        const conf::OptionTable& options = context.config.module("version").options;
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
    std::string_view name() const override { return "version"; }
};

}  // namespace

ModulePtr makeVersionModule(ModuleContext& context) {
    return std::make_unique<VersionModule>(context);
}

}  // namespace corvid::modules
