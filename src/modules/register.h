#pragma once

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0077 In-Band Registration.
///
/// - Registration of new accounts before authentication, only when `modules.register.enabled`
///   (off by default), at most one per `min_interval_s` from one IP address.
/// - Password change (§3.3) and account removal (§3.2) by the authenticated account itself are
///   always available, whatever `enabled` says; removal ends every session of the account with a
///   <not-authorized/> stream error.
///
/// Registrations and password changes derive SCRAM keys (PBKDF2, `auth.scram_iterations` rounds
/// for SHA-1 and for SHA-256) on the server's worker thread, never on the event loop. What a
/// client can make it compute is bounded: at most 4 registrations and password changes in
/// progress from one IP address, 2 changes or removals in progress for one account, and the
/// worker queue's `limits.worker_queue_max` in all; past a bound the request gets a
/// <resource-constraint/> error with a <text/>. An account's changes and removal reach the
/// database one at a time, in the order they were asked for, so the last password asked for is
/// the one that stays; whatever was asked after a successful removal gets
/// <registration-required/>. A registration or change whose client goes away meanwhile is still
/// carried out (nobody is answered).
ModulePtr makeRegisterModule(ModuleContext& context);

}  // namespace corvid::modules
