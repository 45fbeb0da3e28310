// The negotiating stream's state machine (RFC 6120 §4-§7) over a real socket pair and a fake c2s
// manager: no network, no clock. Credential look-ups are answered when the test says so, which
// is how late results are put to the test.

#include "c2s/client_stream.h"

#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <deque>
#include <memory>
#include <regex>
#include <set>
#include <string>

#include "c2s/auth_throttle.h"
#include "c2s/client_session.h"
#include "net/tls_context.h"
#include "sasl/base64.h"
#include "sasl/scram_test_client.h"
#include "support/test_identity.h"
#include "util/c_handles.h"
#include "util/worker_pool.h"

using namespace corvid;
using c2s::ClientSession;
using c2s::ClientStream;
using State = ClientStream::State;

namespace {

struct Host final : c2s::StreamHost, c2s::SessionHost {
    util::EventBasePtr loop{event_base_new()};
    router::Router routerInstance;
    test::TestIdentity identity;
    std::unique_ptr<net::TlsContexts> tlsContexts;
    c2s::C2sSettings settings;
    c2s::AuthThrottle throttle{1000, 1000, std::chrono::seconds(300)};
    util::WorkerPool pool{loop.get(), 1, 16};
    std::vector<std::unique_ptr<ClientStream>> oldStreams;  // replaced by a later Client
    std::unique_ptr<ClientStream> stream;
    std::vector<std::unique_ptr<ClientSession>> sessions;
    std::set<c2s::StreamId> finished;
    c2s::StreamId nextStreamId = 0;
    struct Lookup {
        std::string username;
        std::function<void(c2s::CredentialsResult)> done;
    };
    std::deque<Lookup> lookups;

    Host() {
        routerInstance.addLocalDomain("example.org");
        net::TlsOptions o;
        o.identities.push_back({"example.org", identity.certFile(), identity.keyFile()});
        tlsContexts = std::move(*net::TlsContexts::create(o));
        settings.allowPlaintext = true;  // SASL without TLS: this test is about the states
        settings.mechanisms = {"SCRAM-SHA-256"};
        settings.fakeSaltSecret = "fake";
    }
    ~Host() {
        for (auto& s : sessions) {
            s->end();
        }
    }

    // StreamHost
    event_base* base() override { return loop.get(); }
    router::Router& router() override { return routerInstance; }
    const net::TlsContexts& tls() override { return *tlsContexts; }
    const c2s::C2sSettings& c2sSettings() override { return settings; }
    c2s::AuthThrottle& authThrottle() override { return throttle; }
    util::WorkerPool& workers() override { return pool; }
    void lookupCredentials(const std::string& username, const std::string&,
                           std::function<void(c2s::CredentialsResult)> done) override {
        lookups.push_back({username, std::move(done)});
    }
    std::vector<xml::Element> postAuthFeatures() override { return {}; }
    std::expected<ClientSession*, c2s::BindError> bind(stanza::Jid full,
                                                       c2s::Transport& transport) override {
        if (routerInstance.sessions().find(full) != nullptr) {
            return std::unexpected(
                c2s::BindError{stanza::StanzaCondition::Conflict, "this resource is in use"});
        }
        sessions.push_back(std::make_unique<ClientSession>(static_cast<c2s::SessionHost&>(*this),
                                                           100 + sessions.size(), std::move(full),
                                                           transport));
        routerInstance.sessions().add(*sessions.back());
        return sessions.back().get();
    }
    std::optional<ClientSession*> resume(std::string_view, const stanza::Jid&, std::uint32_t,
                                         c2s::Transport&) override {
        return std::nullopt;
    }
    void streamFinished(c2s::StreamId id) override { finished.insert(id); }
    ClientStream* findStream(c2s::StreamId id) override {
        return stream && stream->id() == id && !finished.contains(id) ? stream.get() : nullptr;
    }
    // SessionHost
    const c2s::SmSettings& smSettings() override { return settings.sm; }
    bool stopping() const override { return false; }
    void resumable(const std::string&, router::SessionId) override {}
    void notResumable(const std::string&) override {}
    void sessionEnded(router::SessionId) override {}

    /// Answers the oldest pending look-up: "user" has the password "pencil".
    void answerLookup() {
        REQUIRE_FALSE(lookups.empty());
        Lookup l = std::move(lookups.front());
        lookups.pop_front();
        l.done(l.username == "user" ? std::optional(sasl::test::pencilCredentials())
                                    : std::nullopt);
    }
};

/// The client end of a socket pair whose other end a ClientStream serves.
struct Client {
    Host& host;
    int fd = -1;
    std::string received;

    explicit Client(Host& h) : host(h) {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        fd = fds[0];
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
        evutil_make_socket_nonblocking(fds[1]);
        if (host.stream) {
            host.oldStreams.push_back(std::move(host.stream));
        }
        host.stream =
            std::make_unique<ClientStream>(host, ++host.nextStreamId, fds[1], "192.0.2.9", false);
    }
    ~Client() { ::close(fd); }

    /// Writes `bytes`, lets the server run until it has nothing more to say, returns what it
    /// said.
    std::string say(std::string_view bytes) {
        if (!bytes.empty()) {
            REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
        }
        std::string got;
        for (int quiet = 0; quiet < 20;) {
            event_base_loop(host.loop.get(), EVLOOP_NONBLOCK);
            char buf[16384];
            const ssize_t n = ::read(fd, buf, sizeof(buf));
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
                quiet = 0;
            } else {
                ++quiet;
            }
        }
        received += got;
        return got;
    }
    std::string open() {
        return say(
            "<?xml version='1.0'?><stream:stream to='example.org' version='1.0' "
            "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
    }
};

std::string challengeData(const std::string& out) {
    std::smatch m;
    REQUIRE(std::regex_search(out, m, std::regex("<challenge[^>]*>([^<]*)</challenge>")));
    return sasl::decodeBase64(m[1].str()).value();
}

std::string authFor(const sasl::test::ScramClient& c) {
    return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
           sasl::encodeBase64(c.firstMessage()) + "</auth>";
}

/// Features, SCRAM, restart: the stream is waiting for a bind.
void authenticate(Client& c) {
    const std::string features = c.open();
    REQUIRE(features.find("<mechanism>SCRAM-SHA-256</mechanism>") != std::string::npos);
    REQUIRE(c.host.stream->state() == State::Negotiating);
    sasl::test::ScramClient scram;
    c.say(authFor(scram));
    REQUIRE(c.host.stream->state() == State::Authenticating);
    c.host.answerLookup();
    const std::string first = challengeData(c.say(""));
    const std::string success =
        c.say("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
              sasl::encodeBase64(scram.finalMessage(first)) + "</response>");
    REQUIRE(success.find("<success") != std::string::npos);
    REQUIRE(c.host.stream->state() == State::Connected);  // a new stream follows
    REQUIRE(c.open().find("urn:ietf:params:xml:ns:xmpp-bind") != std::string::npos);
    REQUIRE(c.host.stream->state() == State::AwaitingBind);
}

std::string bindRequest(std::string_view resource) {
    return "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
           std::string(resource) + "</resource></bind></iq>";
}

}  // namespace

TEST_CASE("negotiation runs header, SASL, restart, bind and hands stanzas to the session",
          "[c2s]") {
    Host host;
    Client c(host);
    CHECK(host.stream->state() == State::Connected);
    authenticate(c);
    const std::string bound = c.say(bindRequest("phone"));
    CHECK(bound.find("<jid>user@example.org/phone</jid>") != std::string::npos);
    CHECK(host.stream->state() == State::Established);
    REQUIRE(host.stream->session() != nullptr);
    CHECK(host.routerInstance.sessions().find(*stanza::Jid::parse("user@example.org/phone")) ==
          host.stream->session());
    // After binding, stanzas reach the router through the session: a ping to ourselves...
    const std::string pong = c.say(
        "<iq type='get' id='p1' to='user@example.org/phone'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK(pong.find("from='user@example.org/phone'") != std::string::npos);
    // ...and a second bind is refused (RFC 6120 §7.7.1: one resource per stream here).
    CHECK(c.say(bindRequest("again")).find("not-allowed") != std::string::npos);
}

TEST_CASE("a stanza before authentication ends the stream with not-authorized", "[c2s]") {
    Host host;
    Client c(host);
    c.open();
    const std::string out = c.say("<message to='someone@example.org'><body>x</body></message>");
    CHECK(out.find("<not-authorized") != std::string::npos);
    CHECK(host.stream->session() == nullptr);
}

TEST_CASE("a look-up that returns after its exchange was aborted is dropped", "[c2s]") {
    Host host;
    Client c(host);
    c.open();
    sasl::test::ScramClient first;
    sasl::test::ScramClient second;
    second.clientNonce = "another-nonce-0123456789";
    const std::string out = c.say(
        authFor(first) + "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + authFor(second));
    CHECK(out.find("<aborted/>") != std::string::npos);
    REQUIRE(host.lookups.size() == 2);
    // The first exchange's answer comes back while the second waits: nothing may happen.
    host.answerLookup();
    CHECK(c.say("").empty());
    CHECK(host.stream->state() == State::Authenticating);
    // The second's answer carries its own nonce.
    host.answerLookup();
    const std::string serverFirst = challengeData(c.say(""));
    CHECK(serverFirst.rfind("r=" + second.clientNonce, 0) == 0);
}

TEST_CASE("a resource in use is refused and another can be bound", "[c2s]") {
    Host host;
    Client c1(host);  // stays connected: its session keeps the resource
    authenticate(c1);
    c1.say(bindRequest("phone"));
    REQUIRE(host.stream->state() == State::Established);
    Client c2(host);
    authenticate(c2);
    CHECK(c2.say(bindRequest("phone")).find("<conflict") != std::string::npos);
    CHECK(host.stream->state() == State::AwaitingBind);
    CHECK(c2.say(bindRequest("laptop")).find("<jid>user@example.org/laptop</jid>") !=
          std::string::npos);
}
