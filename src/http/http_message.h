#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corvid::http {

/// Names a request on the server: the connection it came on and its number there. Handlers that
/// answer later (a held BOSH request, a file written on a worker) keep this, never a pointer: the
/// connection may be gone by then, and HttpServer tells them so.
struct RequestId {
    std::uint64_t connection = 0;
    std::uint64_t sequence = 0;
    bool operator==(const RequestId&) const = default;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// An HTTP/1.1 request (RFC 9112) as the handlers see it.
struct Request {
    std::string method;  ///< "GET", "PUT" ...
    std::string path;    ///< the target up to '?', still percent-encoded
    std::string query;   ///< after '?', without it
    Headers headers;     ///< names in lower case, in arrival order
    std::string body;    ///< buffered bodies only (BodyMode::Buffer)
    std::string peerAddress;
    bool secure = false;  ///< came over TLS
    /// The Content-Length the client announced (none for bodies without one).
    std::optional<std::uint64_t> contentLength;

    /// The first value of header `name` (lower case), or nullptr.
    const std::string* header(std::string_view name) const;
};

struct Response {
    int status = 200;
    Headers headers;  ///< Content-Length and Connection are added by the server
    std::string body;

    Response() = default;
    Response(int code, std::string contentType, std::string text);
    Response& set(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

/// Whether the comma-separated header value `list` holds `token`, compared without case
/// (RFC 9110 §5.6.1: "Connection: keep-alive, Upgrade").
bool headerHasToken(std::string_view list, std::string_view token);

/// "Not Found" for 404 ...
std::string_view reasonPhrase(int status);

/// Decodes %XX escapes; nullopt for a malformed escape or an encoded NUL or '/'.
std::optional<std::string> percentDecode(std::string_view text);
/// Escapes everything but RFC 3986 unreserved characters.
std::string percentEncode(std::string_view text);

}  // namespace corvid::http
