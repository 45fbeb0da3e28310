#include "net/dns_resolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <utility>

namespace corvid::net {

namespace {

DnsError errorFor(int status) {
    switch (status) {
        case ARES_ENOTFOUND:
        case ARES_ENODATA:
        case ARES_ENONAME:
            return DnsError::NotFound;
        case ARES_ETIMEOUT:
            return DnsError::Timeout;
        case ARES_EDESTRUCTION:
        case ARES_ECANCELLED:
            return DnsError::Cancelled;
        default:
            return DnsError::ServerError;
    }
}

std::string stripDot(std::string name) {
    if (!name.empty() && name.back() == '.') {
        name.pop_back();
    }
    return name;
}

}  // namespace

std::string_view toString(DnsError error) {
    switch (error) {
        case DnsError::NotFound:
            return "not found";
        case DnsError::Timeout:
            return "timed out";
        case DnsError::ServerError:
            return "DNS server failure";
        case DnsError::Cancelled:
            return "cancelled";
    }
    return "?";
}

// --- SocketAddress ---

std::string SocketAddress::toString() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (storage.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
        return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (storage.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    return "?";
}

std::optional<SocketAddress> SocketAddress::fromLiteral(std::string_view ip, std::uint16_t port) {
    const std::string text(ip);
    SocketAddress a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    if (inet_pton(AF_INET, text.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        a.length = sizeof(sockaddr_in);
        return a;
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET6, text.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        a.length = sizeof(sockaddr_in6);
        return a;
    }
    return std::nullopt;
}

// --- SRV ordering (RFC 2782, "Usage rules") ---

std::vector<SrvRecord> orderSrvRecords(std::vector<SrvRecord> records, std::mt19937& rng) {
    if (records.size() == 1 && (records[0].target.empty() || records[0].target == ".")) {
        return {};  // "the service is decidedly not available at this domain"
    }
    std::erase_if(records, [](const SrvRecord& r) { return r.target.empty() || r.target == "."; });
    std::stable_sort(records.begin(), records.end(), [](const SrvRecord& a, const SrvRecord& b) {
        return a.priority < b.priority;
    });
    std::vector<SrvRecord> out;
    out.reserve(records.size());
    auto groupBegin = records.begin();
    while (groupBegin != records.end()) {
        auto groupEnd = std::find_if(groupBegin, records.end(), [&](const SrvRecord& r) {
            return r.priority != groupBegin->priority;
        });
        std::vector<SrvRecord> group(groupBegin, groupEnd);
        // Weight 0 first, then the others in the order received.
        std::stable_partition(group.begin(), group.end(),
                              [](const SrvRecord& r) { return r.weight == 0; });
        while (!group.empty()) {
            std::uint32_t sum = 0;
            for (const auto& r : group) {
                sum += r.weight;
            }
            std::uniform_int_distribution<std::uint32_t> pick(0, sum);
            const std::uint32_t chosen = pick(rng);
            std::uint32_t running = 0;
            std::size_t index = group.size() - 1;
            for (std::size_t i = 0; i < group.size(); ++i) {
                running += group[i].weight;
                if (running >= chosen) {
                    index = i;
                    break;
                }
            }
            out.push_back(std::move(group[index]));
            group.erase(group.begin() + static_cast<std::ptrdiff_t>(index));
        }
        groupBegin = groupEnd;
    }
    return out;
}

// --- the resolver ---

struct DnsResolver::Query {
    DnsResolver* self;
    SrvDone srv;
    HostDone host;
    std::uint16_t port = 0;
};

std::expected<std::unique_ptr<DnsResolver>, std::string> DnsResolver::create(event_base* base,
                                                                             Options options) {
    static std::once_flag initOnce;
    static int initStatus = ARES_SUCCESS;
    std::call_once(initOnce, [] { initStatus = ares_library_init(ARES_LIB_INIT_ALL); });
    if (initStatus != ARES_SUCCESS) {
        return std::unexpected(std::string("c-ares: ") + ares_strerror(initStatus));
    }
    std::unique_ptr<DnsResolver> self(new DnsResolver(base));
    ares_options opts{};
    opts.sock_state_cb = &DnsResolver::onSocketState;
    opts.sock_state_cb_data = self.get();
    opts.timeout = options.timeoutMs;
    opts.tries = options.tries;
    const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    const int status = ares_init_options(&self->channel_, &opts, mask);
    if (status != ARES_SUCCESS) {
        return std::unexpected(std::string("c-ares: ") + ares_strerror(status));
    }
    std::string servers = options.servers;
    if (servers.empty()) {
        if (const char* env = std::getenv("CORVID_DNS_SERVERS"); env != nullptr) {
            servers = env;
        }
    }
    if (!servers.empty()) {
        const int s = ares_set_servers_ports_csv(self->channel_, servers.c_str());
        if (s != ARES_SUCCESS) {
            return std::unexpected("DNS servers '" + servers + "': " + ares_strerror(s));
        }
    }
    self->timer_.reset(evtimer_new(base, &DnsResolver::onTimer, self.get()));
    self->posted_.reset(event_new(base, -1, 0, &DnsResolver::onPosted, self.get()));
    return self;
}

DnsResolver::~DnsResolver() {
    postedWork_.clear();
    if (channel_ != nullptr) {
        // Every query still running gets ARES_EDESTRUCTION; the callbacks only free their cells.
        ares_destroy(channel_);
    }
    watched_.clear();
    retired_.clear();
}

void DnsResolver::post(std::function<void()> work) {
    postedWork_.push_back(std::move(work));
    event_active(posted_.get(), 0, 0);
}

void DnsResolver::onPosted(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<DnsResolver*>(arg);
    self->retired_.clear();
    auto work = std::exchange(self->postedWork_, {});
    for (auto& w : work) {
        w();  // a callback may destroy the resolver's user, never the resolver itself
    }
}

void DnsResolver::onSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<DnsResolver*>(data);
    // This runs inside ares_process_fd(), possibly from the very event being replaced: the old
    // event is only disarmed here and freed later from the loop.
    if (auto it = self->watched_.find(fd); it != self->watched_.end()) {
        event_del(it->second.get());
        self->retired_.push_back(std::move(it->second));
        self->watched_.erase(it);
        if (self->posted_) {
            event_active(self->posted_.get(), 0, 0);
        }
    }
    if (!readable && !writable) {
        return;
    }
    const short what =
        static_cast<short>(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    util::EventPtr ev(event_new(self->base_, fd, what, &DnsResolver::onSocketEvent, self));
    event_add(ev.get(), nullptr);
    self->watched_[fd] = std::move(ev);
}

void DnsResolver::onSocketEvent(evutil_socket_t fd, short what, void* arg) {
    auto* self = static_cast<DnsResolver*>(arg);
    ares_process_fd(self->channel_, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    self->rearmTimer();
}

void DnsResolver::onTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<DnsResolver*>(arg);
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    self->rearmTimer();
}

void DnsResolver::rearmTimer() {
    timeval tv{};
    if (inFlight_ > 0 && ares_timeout(channel_, nullptr, &tv) != nullptr) {
        evtimer_add(timer_.get(), &tv);
    } else {
        evtimer_del(timer_.get());
    }
}

void DnsResolver::resolveSrv(const std::string& name, SrvDone done) {
    auto query = std::make_unique<Query>();
    query->self = this;
    query->srv = std::move(done);
    ++inFlight_;
    ares_query(channel_, name.c_str(), ns_c_in, ns_t_srv, &DnsResolver::onSrvAnswer,
               query.release());
    rearmTimer();
}

void DnsResolver::onSrvAnswer(void* arg, int status, int, unsigned char* abuf, int alen) {
    std::unique_ptr<Query> query(static_cast<Query*>(arg));
    if (status == ARES_EDESTRUCTION) {
        return;
    }
    DnsResolver* self = query->self;
    --self->inFlight_;
    std::expected<std::vector<SrvRecord>, DnsError> result;
    if (status != ARES_SUCCESS) {
        result = std::unexpected(errorFor(status));
    } else {
        ares_srv_reply* reply = nullptr;
        const int parsed = ares_parse_srv_reply(abuf, alen, &reply);
        if (parsed != ARES_SUCCESS) {
            result = std::unexpected(errorFor(parsed));
        } else {
            std::vector<SrvRecord> records;
            for (ares_srv_reply* r = reply; r != nullptr; r = r->next) {
                records.push_back(
                    SrvRecord{stripDot(r->host ? r->host : ""), r->port, r->priority, r->weight});
            }
            ares_free_data(reply);
            result = std::move(records);
        }
    }
    self->post([done = std::move(query->srv), result = std::move(result)]() { done(result); });
}

void DnsResolver::resolveHost(const std::string& host, std::uint16_t port, HostDone done) {
    if (auto literal = SocketAddress::fromLiteral(host, port)) {
        post([done = std::move(done), a = *literal]() { done(std::vector<SocketAddress>{a}); });
        return;
    }
    auto query = std::make_unique<Query>();
    query->self = this;
    query->host = std::move(done);
    query->port = port;
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    ++inFlight_;
    // c-ares may answer from /etc/hosts inside this call: the callback only posts.
    ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &DnsResolver::onHostAnswer,
                     query.release());
    rearmTimer();
}

void DnsResolver::onHostAnswer(void* arg, int status, int, ares_addrinfo* result) {
    std::unique_ptr<Query> query(static_cast<Query*>(arg));
    if (status == ARES_EDESTRUCTION) {
        if (result != nullptr) {
            ares_freeaddrinfo(result);
        }
        return;
    }
    DnsResolver* self = query->self;
    --self->inFlight_;
    std::expected<std::vector<SocketAddress>, DnsError> out;
    if (status != ARES_SUCCESS || result == nullptr) {
        out = std::unexpected(errorFor(status == ARES_SUCCESS ? ARES_ENODATA : status));
    } else {
        std::vector<SocketAddress> addresses;
        for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
            if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
                n->ai_addrlen > sizeof(sockaddr_storage)) {
                continue;
            }
            SocketAddress a;
            std::memcpy(&a.storage, n->ai_addr, n->ai_addrlen);
            a.length = n->ai_addrlen;
            if (n->ai_family == AF_INET) {
                reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(query->port);
            } else {
                reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(query->port);
            }
            // c-ares may list an address once per socket type; keep each once.
            const bool seen = std::any_of(addresses.begin(), addresses.end(), [&](const auto& b) {
                return b.length == a.length && std::memcmp(&b.storage, &a.storage, a.length) == 0;
            });
            if (!seen) {
                addresses.push_back(a);
            }
        }
        if (addresses.empty()) {
            out = std::unexpected(DnsError::NotFound);
        } else {
            out = std::move(addresses);
        }
    }
    if (result != nullptr) {
        ares_freeaddrinfo(result);
    }
    self->post([done = std::move(query->host), out = std::move(out)]() { done(out); });
}

}  // namespace corvid::net
