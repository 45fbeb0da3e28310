#pragma once

#include "c2s/connection.h"
#include "stream/xmpp_stream.h"

namespace corvid::c2s {

/// A client's XMPP stream on its own TCP connection (RFC 6120), with STARTTLS or direct TLS
/// (XEP-0368): a thin Connection over stream::XmppStream.
class XmppStreamConnection final : public Connection {
  public:
    XmppStreamConnection(event_base* base, evutil_socket_t fd, std::string peerAddress,
                         stream::XmppStream::Owner& owner, stream::XmppStream::Options options,
                         SSL* directTls)
        : stream_(base, fd, std::move(peerAddress), owner, std::move(options), directTls) {}

    void sendStreamHeader(std::string_view from, std::string_view to, std::string_view id,
                          std::string_view lang) override;
    void send(const xml::Element& element) override { stream_.send(element); }
    void closeWithError(stanza::StreamCondition condition, std::string_view text) override {
        stream_.closeWithError(condition, text);
    }
    void close() override { stream_.close(); }
    bool closing() const override { return stream_.closing(); }
    bool encrypted() const override { return stream_.encrypted(); }
    SSL* bindingTls() const override { return stream_.encrypted() ? stream_.ssl() : nullptr; }
    bool canStartTls() const override { return true; }
    void startTls(SSL* ssl) override { stream_.startTls(ssl); }
    void restartStream() override { stream_.restartStream(); }
    void setLimits(const xml::StreamLimits& limits) override { stream_.setLimits(limits); }
    void setIdleTimeout(int seconds) override { stream_.setIdleTimeout(seconds); }
    bool shedIdleMemory(int quietCallsNeeded) override {
        return stream_.shedIdleMemory(quietCallsNeeded);
    }
    std::size_t outputPending() const override { return stream_.outputPending(); }
    std::size_t maxOutputBytes() const override { return stream_.maxOutputBytes(); }
    const std::string& peerAddress() const override { return stream_.peerAddress(); }

    SSL* ssl() const { return stream_.ssl(); }

  private:
    stream::XmppStream stream_;
};

}  // namespace corvid::c2s
