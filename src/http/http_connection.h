#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "http/http_message.h"
#include "util/c_handles.h"

namespace corvid::http {

class Handler;
class HttpServer;

/// One HTTP/1.1 connection: a bufferevent (with an OpenSSL filter on https), an incremental
/// http_parser, and one request at a time (a pipelined request waits, unparsed, until the one
/// before it is answered). Owned by HttpServer, which destroys it from the loop after
/// connectionClosed(); nothing here is destroyed inside its own callbacks.
class HttpConnection {
  public:
    /// Takes `fd` and, on https, `ssl`.
    HttpConnection(HttpServer& server, std::uint64_t id, evutil_socket_t fd, std::string peer,
                   SSL* ssl);
    ~HttpConnection();
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    std::uint64_t id() const { return id_; }
    /// Whether request `sequence` is this connection's current one and not answered yet.
    bool awaitsResponse(std::uint64_t sequence) const;

    bool respond(std::uint64_t sequence, Response&& response);
    bool startResponse(std::uint64_t sequence, Response&& head, std::uint64_t contentLength);
    bool sendBody(std::uint64_t sequence, std::string_view bytes);
    std::size_t outputPending() const;
    /// Writes `response` (101) and gives the bufferevent away (see HttpServer::upgrade).
    bufferevent* upgrade(std::uint64_t sequence, const Response& response);
    void pauseBody(std::uint64_t sequence);
    void resumeBody(std::uint64_t sequence);
    /// Flushes what is written, then closes.
    void close();
    /// Closes now if no request is under way (shutdown); otherwise after its response.
    void closeIfIdle();
    /// Drops the connection now; connectionClosed() follows from the loop.
    void abort();

  private:
    enum class Phase {
        Idle,       ///< between requests
        Head,       ///< a request has begun
        Body,       ///< headers are in, the body is being read
        Handling,   ///< the request is complete, the handler has it
        Streaming,  ///< the response head is out, its body is being sent
    };

    // http_parser callbacks
    static int onMessageBegin(http_parser* p);
    static int onUrl(http_parser* p, const char* at, std::size_t length);
    static int onHeaderField(http_parser* p, const char* at, std::size_t length);
    static int onHeaderValue(http_parser* p, const char* at, std::size_t length);
    static int onHeadersComplete(http_parser* p);
    static int onBodyData(http_parser* p, const char* at, std::size_t length);
    static int onMessageComplete(http_parser* p);
    static const http_parser_settings& parserSettings();

    static void readCallback(bufferevent* bev, void* arg);
    static void writeCallback(bufferevent* bev, void* arg);
    static void eventCallback(bufferevent* bev, short what, void* arg);

    void parseInput();
    bool countHeaderBytes(std::size_t n);
    int headersComplete();
    /// Answers the current request with an error and closes afterwards (the body, if any, is
    /// not read).
    void refuse(int status, std::string_view text);
    void writeHead(const Response& response, std::uint64_t contentLength, bool withLength);
    void responseDone();
    void setPhase(Phase phase);
    void notifyClosed();

    HttpServer& server_;
    std::uint64_t id_;
    std::string peer_;
    bool secure_;
    bufferevent* bev_ = nullptr;
    http_parser parser_{};
    Phase phase_ = Phase::Idle;
    std::uint64_t sequence_ = 1;
    Request request_;
    std::string field_;  // the header name being read
    bool readingValue_ = false;
    std::size_t headerBytes_ = 0;
    Handler* handler_ = nullptr;
    bool handlerOwed_ = false;  // the handler saw this request and waits for its outcome
    bool streamBody_ = false;   // BodyMode::Stream
    bool bodyPaused_ = false;
    bool answered_ = false;   // a response went out before the request was read whole
    bool hasBody_ = false;    // the current request announced a body
    bool responded_ = false;  // the current request has its response
    bool keepAlive_ = true;
    bool headRequest_ = false;
    std::uint64_t bodyRemaining_ = 0;  // of a streamed response
    bool inParse_ = false;
    bool closing_ = false;
    bool closed_ = false;
    bool upgraded_ = false;    // handed over after a 101 (WebSocket): no longer ours
    util::EventPtr deadline_;  // the request line and headers must be in by then
    util::EventPtr resume_;    // parses buffered input from the loop after an answer
    util::EventPtr closedEvent_;
};

}  // namespace corvid::http
