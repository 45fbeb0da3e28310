#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0199 XMPP Ping: the server answers pings addressed to it.
ModulePtr makePingModule(ModuleContext& context);

}  // namespace corvid::modules
