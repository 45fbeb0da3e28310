#pragma once

// Light, non-owning views over xml::Element for the three stanza kinds (RFC 6120 §8). A view is
// as cheap as a pointer; it must not outlive the element it looks at.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::stanza {

enum class StanzaKind : std::uint8_t { Message, Presence, Iq, Other };

/// True for the namespaces stanzas live in: jabber:client, jabber:server and
/// jabber:component:accept.
bool isStanzaNamespace(std::string_view ns);

/// Message / Presence / Iq for those names in a stanza namespace; anything else is Other.
StanzaKind stanzaKind(const xml::Element& e);

/// RFC 6120 §8.2.3.
enum class IqType : std::uint8_t { Get, Set, Result, Error, Invalid };
/// RFC 6121 §5.2.2.
enum class MessageType : std::uint8_t { Normal, Chat, Groupchat, Headline, Error };
/// RFC 6121 §4.7.1; Available is the absence of a 'type'.
enum class PresenceType : std::uint8_t {
    Available,
    Unavailable,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Probe,
    Error,
    Invalid,
};
/// RFC 6121 §4.7.2.1; None is the absence of <show/>.
enum class PresenceShow : std::uint8_t { None, Away, Chat, Dnd, Xa, Invalid };

std::string_view toString(StanzaKind kind);
std::string_view toString(IqType type);
std::string_view toString(MessageType type);
/// "" for Available (no attribute is written) and for Invalid.
std::string_view toString(PresenceType type);
std::string_view toString(PresenceShow show);

/// A JID-valued attribute: an empty optional when the attribute is absent, a Jid when it is
/// present and valid, an error when it is present but not a valid JID (answer jid-malformed).
using JidAttr = std::expected<std::optional<Jid>, JidError>;

/// What is common to all stanzas.
class StanzaView {
  public:
    explicit StanzaView(const xml::Element& e) : element_(&e) {}

    const xml::Element& element() const { return *element_; }
    StanzaKind kind() const { return stanzaKind(*element_); }

    bool hasId() const { return element_->hasAttr("id"); }
    std::string_view id() const { return element_->attr("id"); }

    bool hasTo() const { return element_->hasAttr("to"); }
    bool hasFrom() const { return element_->hasAttr("from"); }
    std::string_view rawTo() const { return element_->attr("to"); }
    std::string_view rawFrom() const { return element_->attr("from"); }
    /// The parsed 'to' / 'from' (each call parses again; keep the result if used twice).
    JidAttr to() const { return jidAttr("to"); }
    JidAttr from() const { return jidAttr("from"); }

    /// xml:lang of the stanza itself ("" when absent; the stream's default then applies).
    std::string_view lang() const { return element_->attr("lang", xml::kXmlNs); }
    bool isError() const { return element_->attr("type") == "error"; }

  protected:
    JidAttr jidAttr(std::string_view name) const;

    const xml::Element* element_;
};

class MessageView : public StanzaView {
  public:
    using StanzaView::StanzaView;
    /// The message type; a missing or unknown 'type' is Normal (RFC 6121 §5.2.2).
    MessageType type() const;
    /// False when 'type' is present with a value RFC 6121 does not define.
    bool typeIsKnown() const;
    /// Text of the first <body/> ("" when there is none).
    std::string body() const;
    bool hasBody() const;
};

class PresenceView : public StanzaView {
  public:
    using StanzaView::StanzaView;
    /// Available without a 'type'; Invalid for a value RFC 6121 §4.7.1 does not define.
    PresenceType type() const;
    PresenceShow show() const;
    /// RFC 6121 §4.7.2.3: 0 when <priority/> is absent, nullopt when it is not an integer in
    /// -128..127.
    std::optional<int> priority() const;
    /// Text of the first <status/>.
    std::string status() const;
};

/// Why an iq breaks RFC 6120 §8.2.3 (answer bad-request, unless it is itself an error).
enum class IqProblem : std::uint8_t {
    MissingId,
    MissingType,
    InvalidType,
    GetSetPayloadCount,  ///< get/set without exactly one child element
    ResultPayloadCount,  ///< result with more than one child element
    MissingError,        ///< type error without an <error/> child (RFC 6120 §8.3.1)
};
std::string_view toString(IqProblem problem);

class IqView : public StanzaView {
  public:
    using StanzaView::StanzaView;
    IqType type() const;
    /// The request or result payload: the first child element that is not the stanza's
    /// <error/>; nullptr when there is none.
    const xml::Element* payload() const;
    /// RFC 6120 §8.2.3: an 'id' (present, possibly empty), a known 'type', exactly one child
    /// element for get/set, at most one for result, and an <error/> child for error.
    std::expected<void, IqProblem> validate() const;
    bool isValid() const { return validate().has_value(); }
};

/// A view that can also change the addressing of the stanza it looks at.
class StanzaRef : public StanzaView {
  public:
    explicit StanzaRef(xml::Element& e) : StanzaView(e), mutable_(&e) {}

    using StanzaView::element;
    xml::Element& element() { return *mutable_; }

    void setTo(const Jid& to) { mutable_->setAttr("to", to.full()); }
    void setFrom(const Jid& from) { mutable_->setAttr("from", from.full()); }
    void removeTo() { mutable_->removeAttr("to"); }
    void removeFrom() { mutable_->removeAttr("from"); }
    void setId(std::string_view id) { mutable_->setAttr("id", std::string(id)); }

  private:
    xml::Element* mutable_;
};

}  // namespace corvid::stanza
