#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "modules/module.h"

namespace corvid::modules {

/// XEP-0191 Blocking Command: blocklist get / block / unblock with pushes to the resources that
/// asked for the list; stanzas from blocked entities are dropped (iq get/set answered with
/// service-unavailable, as if the account offered nothing); stanzas to them are answered with
/// <not-acceptable/> and <blocked xmlns='urn:xmpp:blocking:errors'/>. Lists are kept in memory
/// for accounts with sessions, loaded for a moment for the others.
class BlockingModule : public Module {
  public:
    static constexpr std::string_view kInterfaceName = "the blocking policy (XEP-0191)";

    /// Whether the local account `user` (bare) blocks `other`: a blocklist entry equal to its
    /// full JID, its bare JID, its domain with its resource, or its domain (XEP-0191 §3.3 with
    /// the matching order of XEP-0016 §2.1). False when the user's list is not in memory.
    virtual bool isBlocked(const stanza::Jid& user, const stanza::Jid& other) const = 0;

    /// Told about every change of a user's list, after it is stored (the presence module sends
    /// unavailable presence to newly blocked contacts, current presence to unblocked ones).
    using Listener =
        std::function<void(const stanza::Jid& user, const std::vector<stanza::Jid>& blocked,
                           const std::vector<stanza::Jid>& unblocked)>;
    virtual void setListener(Listener listener) = 0;
};

/// True when the blocklist entry `entry` covers `jid` (the same matching as isBlocked()).
bool blockEntryMatches(const stanza::Jid& entry, const stanza::Jid& jid);

}  // namespace corvid::modules
