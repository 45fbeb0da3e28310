#include "tls_socket.h"

#include <openssl/err.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace corvid::bench {
namespace {

std::string openSslErrors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) {
            out += "; ";
        }
        out += buf;
    }
    return out;
}

}  // namespace

TlsSocket::TlsSocket(event_base* base, int fd, SocketListener& listener, char* readBuffer,
                     size_t readBufferSize)
    : fd_(fd),
      listener_(listener),
      readBuffer_(readBuffer),
      readBufferSize_(readBufferSize),
      readEvent_(event_new(base, fd, EV_READ | EV_PERSIST, &TlsSocket::readCallback, this)),
      writeEvent_(event_new(base, fd, EV_WRITE | EV_PERSIST, &TlsSocket::writeCallback, this)) {}

TlsSocket::~TlsSocket() {
    close();
}

void TlsSocket::close() {
    if (fd_ < 0) {
        return;
    }
    event_del(readEvent_.get());
    event_del(writeEvent_.get());
    ssl_.reset();
    ::close(fd_);
    fd_ = -1;
    pending_.clear();
}

void TlsSocket::fail(const std::string& reason) {
    bool duringTls = handshaking_;
    close();
    listener_.onClosed(reason, duringTls);
}

void TlsSocket::armWrite(bool on) {
    if (on != writeArmed_ && fd_ >= 0) {
        if (on) {
            event_add(writeEvent_.get(), nullptr);
        } else {
            event_del(writeEvent_.get());
        }
        writeArmed_ = on;
    }
}

void TlsSocket::connect(const sockaddr* address, socklen_t length) {
    event_add(readEvent_.get(), nullptr);
    if (::connect(fd_, address, length) != 0 && errno != EINPROGRESS) {
        fail(std::string("connect: ") + std::strerror(errno));
        return;
    }
    // Writable means connected (or failed: SO_ERROR tells).
    connecting_ = true;
    armWrite(true);
}

void TlsSocket::startTls(SslPtr ssl) {
    ssl_ = std::move(ssl);
    SSL_set_fd(ssl_.get(), fd_);
    handshaking_ = true;
    handshake();
}

void TlsSocket::handshake() {
    ERR_clear_error();
    int r = SSL_connect(ssl_.get());
    if (r == 1) {
        handshaking_ = false;
        armWrite(!pending_.empty());
        listener_.onConnected();
        if (!closed()) {
            flush();
        }
        return;
    }
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_WANT_READ) {
        armWrite(false);  // the read event is always armed
    } else if (err == SSL_ERROR_WANT_WRITE) {
        armWrite(true);
    } else {
        std::string detail = openSslErrors();
        fail("TLS handshake failed" + (detail.empty() ? std::string() : ": " + detail));
    }
}

void TlsSocket::readCallback(evutil_socket_t, short, void* self) {
    static_cast<TlsSocket*>(self)->handleReadable();
}

void TlsSocket::writeCallback(evutil_socket_t, short, void* self) {
    static_cast<TlsSocket*>(self)->handleWritable();
}

void TlsSocket::handleReadable() {
    if (connecting_) {
        return;  // wait for the write event to report the connect() result
    }
    if (handshaking_) {
        handshake();
        return;
    }
    if (!ssl_) {
        ssize_t n = ::read(fd_, readBuffer_, readBufferSize_);
        if (n > 0) {
            listener_.onData(readBuffer_, static_cast<size_t>(n));
        } else if (n == 0) {
            fail("connection closed by server");
        } else if (errno != EAGAIN && errno != EINTR) {
            fail(std::string("read: ") + std::strerror(errno));
        }
        return;
    }
    // Drain OpenSSL's buffers: with read-ahead it may hold whole records the socket no longer
    // signals.
    while (!closed() && ssl_) {
        ERR_clear_error();
        int n = SSL_read(ssl_.get(), readBuffer_, static_cast<int>(readBufferSize_));
        if (n > 0) {
            listener_.onData(readBuffer_, static_cast<size_t>(n));
            continue;
        }
        int err = SSL_get_error(ssl_.get(), n);
        if (err == SSL_ERROR_WANT_READ) {
            return;
        }
        if (err == SSL_ERROR_WANT_WRITE) {
            armWrite(true);
            return;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            fail("connection closed by server");
        } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            fail(n == 0 ? "connection closed by server"
                        : std::string("read: ") + std::strerror(errno));
        } else {
            fail("TLS error: " + openSslErrors());
        }
        return;
    }
}

void TlsSocket::handleWritable() {
    if (connecting_) {
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) {
            fail(std::string("connect: ") + std::strerror(error));
            return;
        }
        connecting_ = false;
        armWrite(!pending_.empty());
        listener_.onConnected();
        return;
    }
    if (handshaking_) {
        handshake();
        return;
    }
    flush();
}

ssize_t TlsSocket::writeSome(const char* data, size_t len) {
    if (!ssl_) {
        ssize_t n = ::send(fd_, data, len, MSG_NOSIGNAL);
        if (n >= 0) {
            return n;
        }
        if (errno == EAGAIN || errno == EINTR) {
            return 0;
        }
        fail(std::string("write: ") + std::strerror(errno));
        return -1;
    }
    ERR_clear_error();
    int n = SSL_write(ssl_.get(), data, static_cast<int>(len));
    if (n > 0) {
        return n;
    }
    int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        return 0;
    }
    fail("TLS write failed: " + openSslErrors());
    return -1;
}

void TlsSocket::write(std::string_view data) {
    if (closed()) {
        return;
    }
    if (connecting_ || handshaking_ || !pending_.empty()) {
        pending_.append(data);
        return;
    }
    ssize_t n = writeSome(data.data(), data.size());
    if (n < 0) {
        return;
    }
    if (static_cast<size_t>(n) < data.size()) {
        pending_.append(data.substr(static_cast<size_t>(n)));
        armWrite(true);
    }
}

void TlsSocket::flush() {
    while (!pending_.empty()) {
        ssize_t n = writeSome(pending_.data(), pending_.size());
        if (n < 0) {
            return;
        }
        if (n == 0) {
            armWrite(true);
            return;
        }
        pending_.erase(0, static_cast<size_t>(n));
    }
    armWrite(false);
}

}  // namespace corvid::bench
