#pragma once

#include <optional>
#include <string>

#include "http/http_server.h"

namespace corvid::http {

struct HostMetaSettings {
    /// Whether /xmpp-websocket is served (the only alternative connection method built).
    bool websocket = false;
    /// The URL clients reach corvid's HTTP endpoints at ("https://chat.example.org", a path
    /// allowed); unset: the scheme and Host of each request.
    std::optional<std::string> publicUrl;
    /// As WebSocketSettings::trustLoopbackProxy: a request from loopback came through a proxy,
    /// whose X-Forwarded-Proto says the scheme the client used.
    bool trustLoopbackProxy = true;
};

/// XEP-0156 §3: /.well-known/host-meta (XRD) and /.well-known/host-meta.json (JRD) name the
/// WebSocket endpoint (urn:xmpp:alt-connections:websocket), so that web clients find it from
/// the domain alone. Readable from any origin (CORS), as the XEP asks.
class HostMeta final : public Handler {
  public:
    HostMeta(HttpServer& server, HostMetaSettings settings);

    void onRequest(Request&& request, RequestId id) override;

  private:
    /// The WebSocket URL for this request, or nullopt when it has no usable Host.
    std::optional<std::string> websocketUrl(const Request& request) const;

    HttpServer& server_;
    HostMetaSettings settings_;
};

}  // namespace corvid::http
