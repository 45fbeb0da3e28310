#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/option_table.h"
#include "xml/element.h"

namespace corvid::modules {

/// A username and password for a TURN server that checks them with a shared secret, in the
/// scheme of coturn's `use-auth-secret` (the "TURN REST API"): the username is the expiry as a
/// Unix timestamp, then ':' and the user; the password is base64(HMAC-SHA1(secret, username)).
/// The TURN server refuses them after the expiry.
struct TurnCredentials {
    std::string username;
    std::string password;
};
TurnCredentials turnCredentials(std::string_view secret, std::int64_t expiry,
                                std::string_view user);

/// One [[modules.extdisco.services]] entry.
struct ExternalService {
    std::string type;  ///< stun, stuns, turn, turns
    std::string host;
    std::uint16_t port = 3478;
    std::string transport;  ///< udp, tcp or "" (not announced)
    std::string username;   ///< fixed credentials, or none
    std::string password;
    std::string secret;  ///< shared secret: time-limited credentials per request
};
std::vector<ExternalService> externalServices(const conf::OptionTable& options);

/// The <service/> element announcing `service` to `user` (a bare JID) at `now`: with its fixed
/// credentials, or with fresh ones made from its secret that expire `lifetime` from now
/// (XEP-0215 §3.2; `expires` is an XEP-0082 DateTime).
xml::Element serviceElement(const ExternalService& service, std::string_view user,
                            std::chrono::system_clock::time_point now,
                            std::chrono::seconds lifetime);

}  // namespace corvid::modules
