#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0077 In-Band Registration.
///
/// - Registration of new accounts before authentication, only when `modules.register.enabled`
///   (off by default), at most one per `min_interval_s` from one IP address. Deriving the SCRAM
///   keys (PBKDF2, `auth.scram_iterations` rounds for SHA-1 and for SHA-256, about 2 ms at
///   4096) runs on the event loop: acceptable for one registration, and the per-IP interval
///   bounds how often a client can make the server do it.
/// - Password change (§3.3) and account removal (§3.2) by the authenticated account itself are
///   always available, whatever `enabled` says; removal ends every session of the account with a
///   <not-authorized/> stream error.
ModulePtr makeRegisterModule(ModuleContext& context);

}  // namespace corvid::modules
