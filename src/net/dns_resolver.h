#pragma once

#include <ares.h>
#include <event2/event.h>
#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "util/c_handles.h"

namespace corvid::net {

/// One SRV record (RFC 2782).
struct SrvRecord {
    std::string target;  ///< host name without the trailing dot
    std::uint16_t port = 0;
    std::uint16_t priority = 0;
    std::uint16_t weight = 0;

    bool operator==(const SrvRecord&) const = default;
};

/// An address to connect to (IPv4 or IPv6), port included.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    /// "192.0.2.1:5269" or "[2001:db8::1]:5269".
    std::string toString() const;
    /// Parses an IP literal (no brackets) and a port; nullopt if it is not an IP literal.
    static std::optional<SocketAddress> fromLiteral(std::string_view ip, std::uint16_t port);
};

enum class DnsError {
    NotFound,     ///< NXDOMAIN or no records of that type
    Timeout,      ///< no server answered in time
    ServerError,  ///< SERVFAIL, refused, malformed answer, no usable servers
    Cancelled,    ///< the resolver was shut down
};

std::string_view toString(DnsError error);

/// The order in which to try SRV targets (RFC 2782): ascending priority; within one priority a
/// weighted random choice, repeated without replacement (records of weight 0 are taken first
/// with a small chance, as the RFC's running-sum algorithm gives them). A single record whose
/// target is "." means "no service here" (RFC 2782) and yields an empty list.
std::vector<SrvRecord> orderSrvRecords(std::vector<SrvRecord> records, std::mt19937& rng);

/// Asynchronous DNS on the event loop, with c-ares: the resolver's sockets are watched by
/// libevent events and its timeouts by a libevent timer; nothing blocks. /etc/hosts is honoured
/// for host lookups (c-ares reads it), /etc/resolv.conf gives the servers.
///
/// Callbacks run from the event loop (never from inside the call that started the query); none
/// runs after the resolver is destroyed. They should capture ids, not raw pointers to objects
/// that may be gone by then.
class DnsResolver {
  public:
    struct Options {
        int timeoutMs = 3000;  ///< per try and server
        int tries = 2;
        /// "host:port,host:port" to use instead of /etc/resolv.conf's servers (tests; the
        /// CORVID_DNS_SERVERS environment variable when empty).
        std::string servers;
    };

    using SrvDone = std::function<void(std::expected<std::vector<SrvRecord>, DnsError>)>;
    using HostDone = std::function<void(std::expected<std::vector<SocketAddress>, DnsError>)>;

    static std::expected<std::unique_ptr<DnsResolver>, std::string> create(event_base* base,
                                                                           Options options);
    ~DnsResolver();
    DnsResolver(const DnsResolver&) = delete;
    DnsResolver& operator=(const DnsResolver&) = delete;

    /// SRV records of `name` (e.g. "_xmpp-server._tcp.example.com"), unordered as received.
    void resolveSrv(const std::string& name, SrvDone done);
    /// A and AAAA of `host` (IPv6 first when both exist, as c-ares sorts them), with `port`.
    /// IP literals are answered without a query.
    void resolveHost(const std::string& host, std::uint16_t port, HostDone done);

    /// Queries not answered yet.
    std::size_t pending() const { return inFlight_; }

  private:
    explicit DnsResolver(event_base* base) : base_(base) {}
    struct Query;

    static void onSocketState(void* data, ares_socket_t fd, int readable, int writable);
    static void onSocketEvent(evutil_socket_t fd, short what, void* arg);
    static void onTimer(evutil_socket_t, short, void* arg);
    static void onPosted(evutil_socket_t, short, void* arg);
    static void onSrvAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
    static void onHostAnswer(void* arg, int status, int timeouts, ares_addrinfo* result);

    void rearmTimer();
    /// Runs `work` from the loop soon (answers never reach callers inside c-ares or inside the
    /// call that asked).
    void post(std::function<void()> work);

    event_base* base_;
    ares_channel channel_ = nullptr;
    std::map<ares_socket_t, util::EventPtr> watched_;
    std::vector<util::EventPtr> retired_;  // disarmed watches, freed from the loop
    util::EventPtr timer_;
    util::EventPtr posted_;
    std::vector<std::function<void()>> postedWork_;
    std::size_t inFlight_ = 0;
};

}  // namespace corvid::net
