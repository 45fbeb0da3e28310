#pragma once

// RAII owners for the C libraries' handles (style.md §7.3): deleter structs, never a specialised
// std::default_delete.

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include <memory>

namespace corvid::util {

struct EventBaseDeleter {
    void operator()(event_base* p) const { event_base_free(p); }
};
struct EventDeleter {
    void operator()(event* p) const { event_free(p); }
};
struct BuffereventDeleter {
    void operator()(bufferevent* p) const { bufferevent_free(p); }
};
struct ListenerDeleter {
    void operator()(evconnlistener* p) const { evconnlistener_free(p); }
};
struct SslCtxDeleter {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
    void operator()(SSL* p) const { SSL_free(p); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using BuffereventPtr = std::unique_ptr<bufferevent, BuffereventDeleter>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

}  // namespace corvid::util
