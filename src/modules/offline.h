#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0160 offline messages in PostgreSQL: chat and normal messages with content for an
/// existing account with no available resource are stored with a XEP-0203 <delay/> (the sender
/// hears nothing unless storing fails or modules.offline.max_messages is reached, which are
/// answered with wait-type errors); they are written, oldest first, to the next resource that
/// becomes available with a non-negative priority. Messages for accounts that do not exist are
/// dropped just as silently, so the answer never tells whether an account exists.
ModulePtr makeOfflineModule(ModuleContext& context);

}  // namespace corvid::modules
