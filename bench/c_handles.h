#pragma once

// RAII owners for the C handles the bench uses (style.md §7.3: deleter structs, never a
// specialised std::default_delete). The bench keeps its own copy rather than src/util/c_handles.h
// so that it builds without any of the server's code.

#include <event2/event.h>
#include <expat.h>
#include <openssl/ssl.h>

#include <memory>

namespace corvid::bench {

struct EventBaseDeleter {
    void operator()(event_base* p) const { event_base_free(p); }
};
struct EventDeleter {
    void operator()(event* p) const { event_free(p); }
};
struct SslDeleter {
    void operator()(SSL* p) const { SSL_free(p); }
};
struct SslCtxDeleter {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct XmlParserDeleter {
    void operator()(XML_ParserStruct* p) const { XML_ParserFree(p); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using XmlParserPtr = std::unique_ptr<XML_ParserStruct, XmlParserDeleter>;

}  // namespace corvid::bench
