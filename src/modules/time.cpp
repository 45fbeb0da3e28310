#include "modules/time.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "modules/module_registry.h"
#include "stanza/ns.h"

namespace corvid::modules {

std::string utcStamp(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string tzoString(long offsetSeconds) {
    const char sign = offsetSeconds < 0 ? '-' : '+';
    const long minutes = std::labs(offsetSeconds) / 60;
    char buf[48];  // room for any long, to keep -Wformat-truncation quiet
    std::snprintf(buf, sizeof(buf), "%c%02ld:%02ld", sign, minutes / 60, minutes % 60);
    return buf;
}

namespace {

namespace ns = stanza::ns;

/// XEP-0202 Entity Time for the server: the UTC time and the server's offset from UTC.
class TimeModule final : public Module {
  public:
    explicit TimeModule(ModuleContext& context) {
        // Reads the zone (TZ, /etc/localtime) now, at start; localtime_r() then uses what was
        // loaded and touches no file per request.
        tzset();
        router::Router& router = context.router;
        hooks_.push_back(router.hooks().addIq(
            router::IqTarget::Host, std::string(ns::kTime), "time",
            [&router](const xml::Element& iq, const stanza::Jid& from, const stanza::Jid& to,
                      router::LocalSession*) {
                if (iq.attr("type") != "get") {
                    router.bounce(iq, stanza::StanzaCondition::NotAllowed,
                                  "urn:xmpp:time is get only");
                    return;
                }
                const std::time_t now =
                    std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
                std::tm local{};
                localtime_r(&now, &local);
                // XEP-0202 §3: <tzo/> is the entity's offset from UTC, <utc/> the time in UTC.
                xml::Element time("time", std::string(ns::kTime));
                time.addTextChild("tzo", tzoString(local.tm_gmtoff));
                time.addTextChild("utc", utcStamp(now));
                replyResult(router, iq, from, to, std::move(time));
            }));
        hooks_.push_back(router.hooks().addFeature(router::IqTarget::Host, std::string(ns::kTime)));
    }
};

const ModuleRegistrar kRegistrar({
    .name = "time",
    .section = "time",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<TimeModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
