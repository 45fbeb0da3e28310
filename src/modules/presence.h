#pragma once

#include "modules/module.h"

namespace corvid::modules {

class RosterModule;
class BlockingModule;

/// RFC 6121 §3-§4: the presence subscription state machine (with pre-approval, §3.4), stored in
/// the roster; initial, subsequent and unavailable presence broadcasts; probes (answered from
/// the sessions' last presence for local contacts); directed presence; priority. Takes over the
/// router's default PresenceBroadcast and PresenceToBare behaviour. `blocking` may be null.
ModulePtr makePresenceModule(ModuleContext& context, RosterModule& roster,
                             BlockingModule* blocking);

}  // namespace corvid::modules
