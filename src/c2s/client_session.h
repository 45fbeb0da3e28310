#pragma once

#include <string>
#include <string_view>

#include <memory>

#include "c2s/stream_management.h"
#include "c2s/transport.h"
#include "router/router.h"
#include "stanza/jid.h"
#include "util/c_handles.h"
#include "xml/element.h"

namespace corvid::c2s {

/// What a bound session needs from the c2s manager that owns it.
class SessionHost {
  public:
    virtual event_base* base() = 0;
    virtual router::Router& router() = 0;
    virtual const SmSettings& smSettings() = 0;
    /// The server is shutting down: a session whose connection goes ends, it is not kept for
    /// resumption.
    virtual bool stopping() const = 0;
    /// A resumption id (XEP-0198 §5) now names this session; unregistered when it ends.
    virtual void resumable(const std::string& resumeId, router::SessionId id) = 0;
    virtual void notResumable(const std::string& resumeId) = 0;
    /// The session has ended (unbound, out of the registry): destroy it from the loop.
    virtual void sessionEnded(router::SessionId id) = 0;

  protected:
    ~SessionHost() = default;
};

/// A bound client resource (RFC 6120 §7): what the router sees of a client (LocalSession), and
/// the checks on what the client sends (RFC 6120 §8.1.2.1 'from' stamping, §8.2.3 iq rules).
/// It reaches its client only through a Transport, which it can leave and come back on
/// (detach() / attach(), for XEP-0198 resumption); modules hear Bound, Detached, Resumed,
/// Unavailable and Closed.
class ClientSession final : public router::LocalSession {
  public:
    /// Registered in the router's session directory and announced (Bound) by the manager.
    ClientSession(SessionHost& host, router::SessionId id, stanza::Jid full, Transport& transport);
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    /// Tells modules the session is there (Bound), once the client has its bind result.
    void announce();

    // router::LocalSession
    router::SessionId id() const override { return id_; }
    const stanza::Jid& jid() const override { return jid_; }
    /// To the client; while detached, a stanza nothing keeps (no delivery filter took it) is
    /// dropped and counted.
    void deliver(const xml::Element& stanza) override;
    /// The address of the client's connection; empty while detached.
    const std::string& peerAddress() const override {
        static const std::string kNone;
        return transport_ ? transport_->peerAddress() : kNone;
    }
    std::size_t outputPending() const override {
        return transport_ ? transport_->outputPending() : 0;
    }
    std::size_t outputLimit() const override {
        return transport_ ? transport_->outputLimit() : LocalSession::outputLimit();
    }
    /// Ends the session at once (the resource is free for the session that replaces it) and
    /// closes its transport with the stream error.
    void terminate(stanza::StreamCondition condition, std::string_view text) override;

    /// A top-level element from the client: a stanza, or a nonza (XEP-0198 <r/>, XEP-0352
    /// <active/> ...) for the hooks' nonza handlers.
    void fromClient(xml::Element&& element);

    /// The transport is closing or gone. The session ends, unless it is kept for resumption
    /// (keepWhenDetached()), in which case it is detached and waits.
    void transportGone();
    /// Leaves the transport, staying bound and routable (Detached).
    void detach();
    /// Continues on `transport` (Resumed); the old one, if any, is left (sessionLeft()).
    void attach(Transport& transport);
    Transport* transport() const { return transport_; }
    bool attached() const { return transport_ != nullptr; }
    /// The client ended its stream with </stream:stream>: no resumption (XEP-0198 §5).
    void clientClosedStream() { keepWhenDetached_ = false; }

    // --- stream management (XEP-0198) ---
    /// Resumption on a new transport (the stream checked the account): applies the client's h
    /// and attaches. False, changing nothing, when h acknowledges more than was sent.
    bool resume(Transport& transport, std::uint32_t clientH);
    /// After <resumed/>: sends again what the client has not acknowledged, in order.
    void resendUnacked();
    /// Our h: stanzas handled from the client.
    std::uint32_t smInbound() const { return sm_ ? sm_->queue.inbound() : 0; }
    std::size_t smUnacked() const { return sm_ ? sm_->queue.size() : 0; }
    /// Stanzas delivered while detached that nothing kept.
    std::size_t droppedWhileDetached() const { return droppedWhileDetached_; }

    /// Unbinds: unavailable presence on the client's behalf if it was available (RFC 6121
    /// §4.6.1), out of the directory, Closed; the manager destroys the object later. Idempotent.
    void end();
    bool ended() const { return ended_; }

  private:
    struct SmState {
        SmQueue queue;
        std::string resumeId;   // empty when not resumable
        int resumeSeconds = 0;  // the window this client was promised
        bool ackRequested = false;
        util::EventPtr ackTimer;  // asks for an ack a moment after stanzas went unacknowledged
        util::EventPtr expiry;    // while detached: the end of the resumption window
    };
    void handleSm(const xml::Element& nonza);
    void enableSm(const xml::Element& enable);
    void smFailed(std::string_view condition, std::string_view text);
    void requestAck();
    void requestAckSoon();
    void onResumeTimeout();
    /// The session ended with stanzas the client never acknowledged: they are routed as if this
    /// resource had never been there (messages to the account's other resources or offline
    /// storage, with a <delay/>; iq requests answered with an error), not dropped.
    void rerouteUnacked();
    bool checkStanza(xml::Element& stanza);
    void handleStanza(xml::Element&& stanza);
    void sendError(const xml::Element& stanza, stanza::StanzaCondition condition,
                   std::string_view text);

    SessionHost& host_;
    router::SessionId id_;
    stanza::Jid jid_;
    Transport* transport_;
    std::unique_ptr<SmState> sm_;  // once the client enabled stream management
    bool keepWhenDetached_ = false;
    bool ended_ = false;
    std::size_t droppedWhileDetached_ = 0;
};

}  // namespace corvid::c2s
