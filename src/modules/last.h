#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0012 Last Activity: the server's uptime (§4) and, for an account's bare JID, the time
/// since its last resource went away with the status of its last unavailable presence (§3),
/// recorded in PostgreSQL when that happens.
ModulePtr makeLastModule(ModuleContext& context);

}  // namespace corvid::modules
