#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0160 offline messages in PostgreSQL: chat and normal messages with content for an
/// account with no available resource are stored with a XEP-0203 <delay/>; they are written,
/// oldest first, to the next resource that becomes available with a non-negative priority.
///
/// Messages wait in memory for PostgreSQL, bounded by bytes per account and in total
/// (modules.offline.max_pending_bytes_per_account, max_pending_bytes): past a bound they are
/// bounced at once with resource-constraint (wait). They are written in batches, one statement
/// in flight for all accounts, which also tells whether each account exists. The sender hears
/// nothing once a message is stored; otherwise it gets service-unavailable when the account
/// does not exist (RFC 6121 §8.5.1), resource-constraint when modules.offline.max_messages is
/// reached, internal-server-error (wait) when the database fails, and nothing when the
/// recipient blocks it (XEP-0191).
ModulePtr makeOfflineModule(ModuleContext& context);

}  // namespace corvid::modules
