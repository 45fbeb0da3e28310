#include "modules/module.h"

#include "stanza/ns.h"

namespace corvid::modules {

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
