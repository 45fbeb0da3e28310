#include "http/host_meta.h"

#include <algorithm>
#include <cctype>

#include "http/websocket.h"
#include "xml/serializer.h"

namespace corvid::http {

namespace {

constexpr std::string_view kWebSocketRel = "urn:xmpp:alt-connections:websocket";

/// A Host header we may put into a URL: a name, an IPv4 or a bracketed IPv6 literal, a port.
bool plausibleHost(std::string_view host) {
    return !host.empty() && host.size() <= 255 &&
           std::all_of(host.begin(), host.end(), [](unsigned char c) {
               return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
           });
}

void appendJsonString(std::string_view s, std::string& out) {
    out += '"';
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
}

}  // namespace

HostMeta::HostMeta(HttpServer& server, HostMetaSettings settings)
    : server_(server), settings_(std::move(settings)) {}

std::optional<std::string> HostMeta::websocketUrl(const Request& request) const {
    std::string base;
    if (settings_.publicUrl) {
        base = *settings_.publicUrl;
    } else {
        const std::string* host = request.header("host");
        if (host == nullptr || !plausibleHost(*host)) {
            return std::nullopt;
        }
        bool secure = request.secure;
        if (const std::string* proto = request.header("x-forwarded-proto");
            proto != nullptr && settings_.trustLoopbackProxy && isLoopback(request.peerAddress)) {
            secure = *proto == "https";
        }
        base = (secure ? "https://" : "http://") + *host;
    }
    // http(s)://host/prefix -> ws(s)://host/prefix/xmpp-websocket
    base.replace(0, 4, "ws");
    if (base.back() != '/') {
        base += '/';
    }
    return base + "xmpp-websocket";
}

void HostMeta::onRequest(Request&& request, RequestId id) {
    const bool json = request.path == "/.well-known/host-meta.json";
    if (!json && request.path != "/.well-known/host-meta") {
        server_.respond(id, Response(404, "text/plain; charset=utf-8", "nothing here\n"));
        return;
    }
    if (request.method != "GET" && request.method != "HEAD") {
        Response r(405, "text/plain; charset=utf-8", "GET only\n");
        r.set("Allow", "GET, HEAD");
        server_.respond(id, std::move(r));
        return;
    }
    std::optional<std::string> ws;
    if (settings_.websocket) {
        ws = websocketUrl(request);
        if (!ws) {
            server_.respond(id, Response(400, "text/plain; charset=utf-8",
                                         "the request needs a valid Host header\n"));
            return;
        }
    }
    std::string body;
    if (json) {
        body = "{\"links\":[";
        if (ws) {
            body += "{\"rel\":";
            appendJsonString(kWebSocketRel, body);
            body += ",\"href\":";
            appendJsonString(*ws, body);
            body += '}';
        }
        body += "]}\n";
    } else {
        body =
            "<?xml version='1.0' encoding='utf-8'?>\n"
            "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n";
        if (ws) {
            body += "  <Link rel='";
            body += kWebSocketRel;
            body += "' href='";
            xml::escapeAttr(*ws, body);
            body += "'/>\n";
        }
        body += "</XRD>\n";
    }
    Response r(200, json ? "application/json" : "application/xrd+xml; charset=utf-8",
               std::move(body));
    r.set("Access-Control-Allow-Origin", "*");
    server_.respond(id, std::move(r));
}

}  // namespace corvid::http
