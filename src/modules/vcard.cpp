#include "modules/vcard.h"

#include "modules/module_registry.h"
#include "modules/private_storage_xml.h"
#include "stanza/ns.h"
#include "storage/vcard_store.h"
#include "util/log.h"

namespace corvid::modules {

namespace {

namespace ns = stanza::ns;
using router::IqTarget;
using stanza::Jid;
using stanza::StanzaCondition;

/// The iq without its payload, for errors that should not echo a large request back.
xml::Element withoutPayload(const xml::Element& iq) {
    xml::Element shell(iq.name(), iq.nsHandle());
    shell.attributes() = iq.attributes();
    return shell;
}

/// XEP-0054 vcard-temp: an account reads and replaces its own vCard; anyone reads another
/// account's by its bare JID. Stored in PostgreSQL.
class VcardModule final : public Module {
  public:
    explicit VcardModule(ModuleContext& context)
        : router_(context.router), store_(context.database) {
        router::Hooks& hooks = router_.hooks();
        hooks_.push_back(hooks.addIq(
            IqTarget::Account, std::string(ns::kVcard), "vCard",
            [this](const xml::Element& iq, const Jid& from, const Jid& to, router::LocalSession*) {
                if (iq.attr("type") == "get") {
                    get(iq, from, to);
                } else {
                    set(iq, from, to);
                }
            }));
        // XEP-0054 §6: support is announced on the server.
        hooks_.push_back(hooks.addFeature(IqTarget::Host, std::string(ns::kVcard)));
    }

  private:
    void get(const xml::Element& iq, const Jid& from, const Jid& to) {
        const bool own = from.bare() == to;
        // The router outlives the database's callbacks (the server destroys the database first).
        router::Router& router = router_;
        store_.get(to.domain(), to.local(),
                   [&router, iq, from, to,
                    own](std::expected<std::optional<std::string>, storage::StoreError> r) {
                       if (!r) {
                           log::warn("vCard of {}: {}", to.full(), r.error().message);
                           router.bounce(iq, StanzaCondition::InternalServerError);
                           return;
                       }
                       if (!*r) {
                           if (own) {
                               // XEP-0054 §3.1: one's own missing vCard is an empty one.
                               replyResult(router, iq, from, to,
                                           xml::Element("vCard", std::string(ns::kVcard)));
                           } else {
                               // XEP-0054 §3.3: no vCard and no such user get the same error,
                               // service-unavailable (RFC 6121 §8.5.1), against harvesting.
                               router.bounce(iq, StanzaCondition::ServiceUnavailable);
                           }
                           return;
                       }
                       auto vcard = parseStoredXml(**r);
                       if (!vcard) {
                           log::warn("vCard of {}: the stored XML does not parse", to.full());
                           router.bounce(iq, StanzaCondition::InternalServerError);
                           return;
                       }
                       replyResult(router, iq, from, to, std::move(*vcard));
                   });
    }

    void set(const xml::Element& iq, const Jid& from, const Jid& to) {
        if (from.bare() != to) {
            // XEP-0054 §3.2: nobody sets another user's vCard.
            router_.bounce(iq, StanzaCondition::Forbidden, "you can change only your own vCard");
            return;
        }
        std::string xml = storedXml(*iq.firstChildElement());
        if (xml.size() > kMaxVcardBytes) {
            router_.bounce(withoutPayload(iq), StanzaCondition::NotAcceptable,
                           "the vCard is larger than " + std::to_string(kMaxVcardBytes) + " bytes");
            return;
        }
        router::Router& router = router_;
        store_.set(to.domain(), to.local(), xml,
                   [&router, iq, from, to](std::expected<void, storage::StoreError> r) {
                       if (!r) {
                           log::warn("storing the vCard of {}: {}", to.full(), r.error().message);
                           router.bounce(iq, StanzaCondition::InternalServerError);
                           return;
                       }
                       replyResult(router, iq, from, to);
                   });
    }

    router::Router& router_;
    storage::VcardStore store_;
};

const ModuleRegistrar kRegistrar({
    .name = "vcard",
    .section = "vcard",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<VcardModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
