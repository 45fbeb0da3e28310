#include "modules/private_storage.h"

#include "modules/module_registry.h"
#include "modules/private_storage_xml.h"
#include "stanza/ns.h"
#include "storage/private_store.h"
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

/// XEP-0049 Private XML Storage: an account keeps XML fragments on its server, keyed by the
/// fragment's element name and namespace, readable and writable only by the account itself.
class PrivateStorageModule final : public Module {
  public:
    explicit PrivateStorageModule(ModuleContext& context)
        : router_(context.router), store_(context.database) {
        hooks_.push_back(
            router_.hooks().addIq(IqTarget::Account, std::string(ns::kPrivate), "query",
                                  [this](const xml::Element& iq, const Jid& from, const Jid& to,
                                         router::LocalSession*) { handle(iq, from, to); }));
        hooks_.push_back(router_.hooks().addFeature(IqTarget::Host, std::string(ns::kPrivate)));
    }

  private:
    void handle(const xml::Element& iq, const Jid& from, const Jid& to) {
        // XEP-0049 §3: only the user's own resources, whether the other account exists or not.
        if (from.bare() != to) {
            router_.bounce(iq, StanzaCondition::Forbidden,
                           "private storage is for your own account only");
            return;
        }
        const std::vector<const xml::Element*> children = iq.firstChildElement()->childElements();
        // XEP-0049 §2.2: at least one child with a proper namespace, else not-acceptable.
        if (children.empty()) {
            router_.bounce(iq, StanzaCondition::NotAcceptable, "name the element to store or get");
            return;
        }
        for (const xml::Element* child : children) {
            if (child->ns().empty()) {
                router_.bounce(iq, StanzaCondition::NotAcceptable, "the element needs a namespace");
                return;
            }
            // XEP-0049 §3: 'jabber:' namespaces are reserved; refusing them is the historical
            // (optional) behaviour, and it keeps protocol data out of this store.
            if (child->ns().starts_with("jabber:")) {
                router_.bounce(iq, StanzaCondition::NotAcceptable, "reserved namespace");
                return;
            }
        }
        if (iq.attr("type") == "get") {
            if (children.size() != 1) {
                // XEP-0049 §2.2: a get asks for one namespace.
                router_.bounce(iq, StanzaCondition::BadRequest, "get one element at a time");
                return;
            }
            get(iq, from, to, *children.front());
        } else {
            set(iq, from, to, children);
        }
    }

    void get(const xml::Element& iq, const Jid& from, const Jid& to, const xml::Element& asked) {
        router::Router& router = router_;  // outlives the database's callbacks
        store_.get(to.domain(), to.local(), asked.ns(), asked.name(),
                   [&router, iq, from, to,
                    asked](std::expected<std::optional<std::string>, storage::StoreError> r) {
                       if (!r) {
                           log::warn("private XML of {}: {}", to.full(), r.error().message);
                           router.bounce(iq, StanzaCondition::InternalServerError);
                           return;
                       }
                       xml::Element query("query", std::string(ns::kPrivate));
                       if (!*r) {
                           // Nothing stored: the empty element as asked for.
                           query.addChild(xml::Element(asked.name(), asked.nsHandle()));
                       } else if (auto stored = parseStoredXml(**r)) {
                           query.addChild(std::move(*stored));
                       } else {
                           log::warn("private XML of {}: the stored XML does not parse", to.full());
                           router.bounce(iq, StanzaCondition::InternalServerError);
                           return;
                       }
                       replyResult(router, iq, from, to, std::move(query));
                   });
    }

    void set(const xml::Element& iq, const Jid& from, const Jid& to,
             const std::vector<const xml::Element*>& children) {
        std::vector<storage::PrivateItem> items;
        items.reserve(children.size());
        for (const xml::Element* child : children) {
            std::string xml = storedXml(*child);
            if (xml.size() > kMaxPrivateBytes) {
                router_.bounce(
                    withoutPayload(iq), StanzaCondition::NotAcceptable,
                    "an element is larger than " + std::to_string(kMaxPrivateBytes) + " bytes");
                return;
            }
            items.push_back({child->ns(), child->name(), std::move(xml)});
        }
        router::Router& router = router_;
        store_.set(to.domain(), to.local(), std::move(items), kMaxPrivateItems,
                   [&router, shell = withoutPayload(iq), from,
                    to](std::expected<storage::PrivateSetResult, storage::StoreError> r) {
                       if (!r) {
                           log::warn("storing private XML of {}: {}", to.full(), r.error().message);
                           router.bounce(shell, StanzaCondition::InternalServerError);
                           return;
                       }
                       switch (*r) {
                           case storage::PrivateSetResult::Stored:
                               replyResult(router, shell, from, to);
                               return;
                           case storage::PrivateSetResult::Full:
                               router.bounce(shell, StanzaCondition::PolicyViolation,
                                             "at most " + std::to_string(kMaxPrivateItems) +
                                                 " elements may be stored");
                               return;
                           case storage::PrivateSetResult::NoAccount:
                               router.bounce(shell, StanzaCondition::ItemNotFound);
                               return;
                       }
                   });
    }

    router::Router& router_;
    storage::PrivateStore store_;
};

const ModuleRegistrar kRegistrar({
    .name = "private",
    .section = "private",
    .make = [](ModuleContext& c) -> ModulePtr { return std::make_unique<PrivateStorageModule>(c); },
});

}  // namespace

}  // namespace corvid::modules
