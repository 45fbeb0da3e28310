#pragma once

#include "c_handles.h"

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace corvid::bench {

class SocketListener {
  public:
    virtual ~SocketListener() = default;
    /// TCP connected (first call), or the TLS handshake done (after startTls()).
    virtual void onConnected() = 0;
    virtual void onData(const char* data, size_t len) = 0;
    /// The connection failed or the peer closed it; the socket is closed already.
    virtual void onClosed(const std::string& reason, bool duringTls) = 0;
};

/// A non-blocking client socket, plain and then (after startTls()) TLS, on a libevent loop.
///
/// Written for the bench instead of libevent's OpenSSL bufferevents, which cost two epoll_ctl()
/// calls and an extra loop pass per message (write interest is added for every write and removed
/// after it) and cannot use OpenSSL's read-ahead safely. Here writes go straight to the socket;
/// write interest is armed only when the kernel buffer is full; reads drain SSL_read() until it
/// wants more, so read-ahead is safe and one read() usually brings several records.
///
/// close() may be called from inside a listener callback: the object stays valid (its owner
/// frees it later) and stops touching the socket.
class TlsSocket {
  public:
    /// readBuffer is shared by all sockets of one loop: data passed to onData() is only valid
    /// during the call.
    TlsSocket(event_base* base, int fd, SocketListener& listener, char* readBuffer,
              size_t readBufferSize);
    ~TlsSocket();
    TlsSocket(const TlsSocket&) = delete;
    TlsSocket& operator=(const TlsSocket&) = delete;

    /// Starts a non-blocking connect(); onConnected() or onClosed() follows.
    void connect(const sockaddr* address, socklen_t length);
    /// Starts the client handshake on the connected socket (takes ownership of ssl).
    void startTls(SslPtr ssl);
    void write(std::string_view data);
    void close();
    bool closed() const { return fd_ < 0; }

  private:
    static void readCallback(evutil_socket_t, short, void* self);
    static void writeCallback(evutil_socket_t, short, void* self);
    void handleReadable();
    void handleWritable();
    void handshake();
    void flush();
    /// Writes as much of data as the socket takes; returns the count, or -1 after fail().
    ssize_t writeSome(const char* data, size_t len);
    void armWrite(bool on);
    void fail(const std::string& reason);

    int fd_;
    SocketListener& listener_;
    char* readBuffer_;
    size_t readBufferSize_;
    EventPtr readEvent_;
    EventPtr writeEvent_;
    SslPtr ssl_;
    std::string pending_;  // output the kernel did not take yet
    bool connecting_ = false;
    bool handshaking_ = false;
    bool writeArmed_ = false;
};

}  // namespace corvid::bench
