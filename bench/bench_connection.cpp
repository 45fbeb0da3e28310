#include "bench_connection.h"

#include "load_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace corvid::bench {
namespace {

constexpr std::string_view kNsSasl = "urn:ietf:params:xml:ns:xmpp-sasl";
constexpr std::string_view kNsSession = "urn:ietf:params:xml:ns:xmpp-session";

// Text and attribute values the bench puts into XML come from the accounts file and options;
// escape them so a stray '&' cannot break a stream.
std::string escapeXml(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (char c : in) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '\'':
                out += "&apos;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

}  // namespace

const char* failKindName(FailKind kind) {
    switch (kind) {
        case FailKind::Connect:
            return "connect";
        case FailKind::Tls:
            return "tls";
        case FailKind::Xml:
            return "xml";
        case FailKind::StreamError:
            return "stream-error";
        case FailKind::Sasl:
            return "sasl";
        case FailKind::Bind:
            return "bind";
        case FailKind::Closed:
            return "closed";
        case FailKind::Timeout:
            return "timeout";
        case FailKind::Protocol:
            return "protocol";
    }
    return "?";
}

BenchConnection::BenchConnection(LoadLoop& loop, int index, const Account& account)
    : loop_(loop), index_(index), account_(account), reader_(*this) {}

BenchConnection::~BenchConnection() = default;

void BenchConnection::start(const sockaddr_storage& target, const sockaddr_storage& source) {
    connectStartNs_ = nowNs();
    transitionTo(State::Connecting);
    int fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(FailKind::Connect, std::string("socket: ") + std::strerror(errno));
        return;
    }
    socket_ = std::make_unique<TlsSocket>(loop_.base(), fd, *this, loop_.readBuffer(),
                                          LoadLoop::kReadBufferSize);
    int one = 1;
    // Messages are small and latency is what we measure: no Nagle delay.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source.ss_family != AF_UNSPEC) {
        // Let connect() choose the port per (source, destination), not bind(): ports are then
        // unique per 4-tuple, so each source address gives a full ephemeral range.
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        socklen_t len = source.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        if (bind(fd, reinterpret_cast<const sockaddr*>(&source), len) != 0) {
            fail(FailKind::Connect, std::string("bind: ") + std::strerror(errno));
            return;
        }
    }
    socklen_t len = target.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    socket_->connect(reinterpret_cast<const sockaddr*>(&target), len);
}

void BenchConnection::send(std::string_view data) {
    if (socket_) {
        socket_->write(data);
    }
}

void BenchConnection::sendStreamHeader() {
    send(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='" +
        escapeXml(loop_.options().domain) + "'>");
    transitionTo(State::AwaitFeatures);
}

void BenchConnection::onData(const char* data, size_t len) {
    inReader_ = true;
    XmlReader::FeedResult result = reader_.feed(data, len);
    inReader_ = false;
    if (result == XmlReader::FeedResult::Error) {
        fail(FailKind::Xml, reader_.errorText());
        return;
    }
    PendingAction action = pending_;
    pending_ = PendingAction::None;
    if (finished()) {
        return;
    }
    switch (action) {
        case PendingAction::StartTls:
            // The server's <proceed/> was the last plaintext byte.
            startTls();
            break;
        case PendingAction::Restart:
            restartStream();
            break;
        case PendingAction::None:
            break;
    }
}

void BenchConnection::onConnected() {
    if (state_ == State::Connecting) {
        if (loop_.options().tls == TlsMode::Direct) {
            startTls();
        } else {
            sendStreamHeader();
        }
    } else if (state_ == State::TlsHandshake) {
        phase_ = Phase::Secured;
        restartStream();
    }
}

void BenchConnection::onClosed(const std::string& reason, bool duringTls) {
    FailKind kind = FailKind::Closed;
    if (duringTls) {
        kind = FailKind::Tls;
    } else if (state_ == State::Connecting) {
        kind = FailKind::Connect;
    }
    fail(kind, reason);
}

void BenchConnection::startTls() {
    transitionTo(State::TlsHandshake);
    socket_->startTls(SslPtr(loop_.newSsl()));
}

void BenchConnection::restartStream() {
    reader_.reset();
    sendStreamHeader();
}

void BenchConnection::onStreamOpen(const XmlNode& header) {
    if (header.localName() != "stream") {
        fail(FailKind::Protocol, "stream root is <" + header.name + ">");
    }
}

void BenchConnection::onStreamClose() {
    if (state_ != State::Closed) {
        fail(FailKind::Closed, "server closed the stream");
    }
}

void BenchConnection::onElement(XmlNode&& element) {
    if (finished()) {
        return;
    }
    std::string_view name = element.localName();
    if (name == "error" && element.name.find(':') != std::string::npos) {
        std::string condition =
            element.children.empty() ? std::string("?") : element.children.front().name;
        fail(FailKind::StreamError, "stream error: " + condition);
        return;
    }
    switch (state_) {
        case State::AwaitFeatures:
            if (name == "features") {
                onFeatures(element);
            } else {
                fail(FailKind::Protocol, "expected features, got <" + element.name + ">");
            }
            break;
        case State::AwaitProceed:
            if (name == "proceed") {
                pending_ = PendingAction::StartTls;
                reader_.stop();
            } else {
                fail(FailKind::Tls, "STARTTLS refused: <" + element.name + ">");
            }
            break;
        case State::AwaitChallenge: {
            if (name != "challenge") {
                fail(
                    FailKind::Sasl,
                    "expected challenge, got <" + element.name + ">: " +
                        (element.children.empty() ? std::string() : element.children.front().name));
                break;
            }
            auto serverFirst = base64Decode(element.text);
            auto clientFinal = serverFirst ? scram_->onServerFirst(*serverFirst)
                                           : std::unexpected(serverFirst.error());
            if (!clientFinal) {
                fail(FailKind::Sasl, clientFinal.error());
                break;
            }
            send("<response xmlns='" + std::string(kNsSasl) + "'>" + base64Encode(*clientFinal) +
                 "</response>");
            transitionTo(State::AwaitSuccess);
            break;
        }
        case State::AwaitSuccess: {
            if (name != "success" && name != "challenge") {
                fail(FailKind::Sasl,
                     "authentication failed: " +
                         (element.children.empty() ? element.name : element.children.front().name));
                break;
            }
            auto serverFinal = base64Decode(element.text);
            if (!serverFinal) {
                fail(FailKind::Sasl, "server-final: " + serverFinal.error());
                break;
            }
            if (auto ok = scram_->onServerFinal(*serverFinal); !ok) {
                fail(FailKind::Sasl, ok.error());
                break;
            }
            if (name == "challenge") {
                // COMPAT: RFC 6120 §6.4.6 allows server-final in a challenge, answered empty.
                send("<response xmlns='" + std::string(kNsSasl) + "'/>");
                break;
            }
            scram_.reset();
            phase_ = Phase::Authenticated;
            pending_ = PendingAction::Restart;
            reader_.stop();
            break;
        }
        case State::AwaitBind:
        case State::AwaitSession:
        case State::Established:
            if (name == "iq") {
                onIq(element);
            } else if (name == "message") {
                onMessage(element);
            }
            // Presence (our own, echoed back) and anything else: ignored.
            break;
        default:
            break;
    }
}

void BenchConnection::onFeatures(const XmlNode& features) {
    switch (phase_) {
        case Phase::Plain:
            if (loop_.options().tls == TlsMode::StartTls) {
                if (features.child("starttls") == nullptr) {
                    fail(FailKind::Tls, "server offers no STARTTLS");
                    return;
                }
                send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
                transitionTo(State::AwaitProceed);
                return;
            }
            // Direct TLS: the stream is already secured.
            phase_ = Phase::Secured;
            [[fallthrough]];
        case Phase::Secured: {
            std::string_view mech = ScramClient::mechanismName(loop_.options().mech);
            bool offered = false;
            if (const XmlNode* mechs = features.child("mechanisms")) {
                for (const auto& m : mechs->children) {
                    offered = offered || m.text == mech;
                }
            }
            if (!offered) {
                fail(FailKind::Sasl, "server does not offer " + std::string(mech));
                return;
            }
            scram_ = std::make_unique<ScramClient>(loop_.options().mech, account_.user,
                                                   account_.password, ScramClient::randomNonce(),
                                                   loop_.scramCache());
            send("<auth xmlns='" + std::string(kNsSasl) + "' mechanism='" + std::string(mech) +
                 "'>" + base64Encode(scram_->clientFirst()) + "</auth>");
            transitionTo(State::AwaitChallenge);
            return;
        }
        case Phase::Authenticated: {
            if (features.child("bind") == nullptr) {
                fail(FailKind::Bind, "server offers no resource binding");
                return;
            }
            // RFC 6121 dropped session establishment; old servers still need it unless they
            // mark it <optional/>.
            const XmlNode* session = features.child("session");
            sessionRequired_ = session != nullptr && session->attr("xmlns") == kNsSession &&
                               session->child("optional") == nullptr;
            send(
                "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                "<resource>" +
                escapeXml(loop_.options().resource) + "</resource></bind></iq>");
            transitionTo(State::AwaitBind);
            return;
        }
    }
}

void BenchConnection::onIq(const XmlNode& iq) {
    std::string_view type = iq.attr("type");
    std::string_view id = iq.attr("id");
    if (state_ == State::AwaitBind && id == "bind") {
        const XmlNode* bind = iq.child("bind");
        const XmlNode* jid = bind != nullptr ? bind->child("jid") : nullptr;
        if (type != "result" || jid == nullptr || jid->text.empty()) {
            fail(FailKind::Bind, "bind failed");
            return;
        }
        fullJid_ = jid->text;
        if (sessionRequired_) {
            send("<iq type='set' id='session'><session xmlns='" + std::string(kNsSession) +
                 "'/></iq>");
            transitionTo(State::AwaitSession);
            return;
        }
    } else if (state_ == State::AwaitSession && id == "session") {
        if (type != "result") {
            fail(FailKind::Bind, "session establishment failed");
            return;
        }
    } else {
        if (type == "get" || type == "set") {
            // Answer pings (XEP-0199) so that a server's keepalive does not drop us; refuse the
            // rest as RFC 6120 §8.2.3 asks.
            std::string reply =
                "<iq id='" + escapeXml(id) + "' to='" + escapeXml(iq.attr("from")) + "'";
            if (iq.child("ping") != nullptr) {
                reply += " type='result'/>";
            } else {
                reply +=
                    " type='error'><error type='cancel'><service-unavailable "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
            }
            send(reply);
        }
        return;
    }
    send("<presence/>");
    transitionTo(State::Established);
    loop_.onLoggedIn(*this);
}

void BenchConnection::sendMessage(uint64_t nowNs) {
    if (!established() || peer_ == nullptr) {
        return;
    }
    // The id carries the send time; the receiver, in this same process, subtracts it.
    char id[24];
    auto [end, ec] = std::to_chars(id, id + sizeof id, nowNs);
    std::string stanza;
    stanza.reserve(96 + peer_->fullJid_.size() + loop_.messageBody().size());
    stanza += "<message type='chat' to='";
    stanza += escapeXml(peer_->fullJid_);
    stanza += "' id='";
    stanza.append(id, end);
    stanza += "'><body>";
    stanza += loop_.messageBody();
    stanza += "</body></message>";
    send(stanza);
    ++inFlight_;
    loop_.onSent(nowNs);
}

void BenchConnection::onMessage(const XmlNode& message) {
    if (message.attr("type") == "error") {
        loop_.onMessageError();
        return;
    }
    std::string_view id = message.attr("id");
    uint64_t sentNs = 0;
    auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), sentNs);
    if (ec != std::errc() || ptr != id.data() + id.size()) {
        return;  // not one of ours
    }
    loop_.onDelivered(*this, sentNs);
}

void BenchConnection::timeOut() {
    fail(FailKind::Timeout, "login did not complete in time");
}

void BenchConnection::close() {
    if (finished()) {
        return;
    }
    bool wasLoggingIn = loggingIn();
    send("</stream:stream>");
    transitionTo(State::Closed);
    socket_.reset();
    if (wasLoggingIn) {
        loop_.onFailed(*this, true, FailKind::Timeout, "still logging in at shutdown");
    }
}

void BenchConnection::fail(FailKind kind, std::string detail) {
    if (finished()) {
        return;
    }
    bool wasLoggingIn = loggingIn();
    transitionTo(State::Failed);
    loop_.onFailed(*this, wasLoggingIn, kind, detail);
    if (socket_) {
        socket_->close();
    }
    if (inReader_) {
        reader_.stop();
    }
}

}  // namespace corvid::bench
