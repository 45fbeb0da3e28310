#pragma once

#include "modules/module.h"

namespace corvid::modules {

class BlockingModule;

/// Personal eventing (XEP-0163) on the XEP-0060 subset clients use, at every account's bare
/// JID: publish (auto-create, publish-options), retract, items, create, delete and configure
/// of the owner's nodes; access models presence (the default), open and whitelist (owner only);
/// notifications filtered by the +notify features of entity capabilities (XEP-0115), which it
/// learns and caches (modules/caps_cache.h); the last item of each node on available presence.
/// Nodes and items in PostgreSQL (storage/pep_store.h). Contacts the owner blocks (XEP-0191)
/// get no notifications; `blocking` may be null.
ModulePtr makePepModule(ModuleContext& context, BlockingModule* blocking);

}  // namespace corvid::modules
