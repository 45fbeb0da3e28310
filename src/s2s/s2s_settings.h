#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "xml/stream_parser.h"

namespace corvid::s2s {

/// A configured route: connect here instead of looking up DNS.
struct StaticTarget {
    std::string host;  ///< host name or IP literal
    std::uint16_t port = 5269;
};

/// The s2s settings taken from the config ([s2s], limits.s2s_*).
struct S2sSettings {
    bool requireValidCertificate = true;
    bool dialback = true;
    bool dialbackWithoutCertificate = false;
    int idleTimeoutSeconds = 600;  ///< 0 = never
    int connectTimeoutSeconds = 30;
    /// An incoming stream must have authenticated a domain this soon (0 = no limit); streams
    /// that only ask us to verify dialback keys are closed then too.
    int authTimeoutSeconds = 30;
    std::map<std::string, StaticTarget, std::less<>> routes;
    /// Connect to peers that DNS places at loopback, private, link-local and other non-public
    /// addresses (net::nonPublicRange()); off, only static routes may lead there.
    bool allowPrivateAddresses = false;
    /// Before a stream has authenticated anything.
    xml::StreamLimits preAuthLimits{16 * 1024, 16, 32};
    xml::StreamLimits limits{512 * 1024, 32, 64};
    std::size_t maxOutputBytes = 1024 * 1024;
    std::size_t queueMax = 1000;
    std::size_t maxConnectionsPerIp = 64;

    /// The one certificate policy, for both directions: may dialback alone authenticate a peer
    /// whose certificate is missing, untrusted or for another name? Only when the administrator
    /// said so (s2s.dialback_without_certificate, or s2s.require_valid_certificate = false).
    bool dialbackWithoutValidCertificate() const {
        return dialback && (dialbackWithoutCertificate || !requireValidCertificate);
    }
    /// Whether a stream must be encrypted before anything is authenticated on it: always, unless
    /// dialback alone may authenticate (then TLS is still offered and used when available).
    bool tlsRequired() const { return !dialbackWithoutValidCertificate(); }
};

}  // namespace corvid::s2s
