#include "modules/muc/room.h"

#include "modules/module.h"  // replyResult
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

Room::Room(RoomHost& host, std::uint64_t id, Jid jid, RoomConfig config,
           std::map<std::string, AffiliationEntry, std::less<>> affiliations, Subject subject,
           bool locked)
    : host_(host),
      id_(id),
      jid_(std::move(jid)),
      config_(std::move(config)),
      affiliations_(std::move(affiliations)),
      subject_(std::move(subject)),
      locked_(locked) {}

bool Room::finished() const {
    return destroyed_ ||
           (occupants_.empty() && !config_.persistent && !writing_ && writes_.empty());
}

Affiliation Room::affiliationOf(const Jid& real) const {
    if (auto it = affiliations_.find(real.bare().full()); it != affiliations_.end()) {
        return it->second.affiliation;
    }
    if (auto it = affiliations_.find(real.domain()); it != affiliations_.end()) {
        return it->second.affiliation;
    }
    return Affiliation::None;
}

void Room::handle(xml::Element&& stanza, const Jid& from, const Jid& to) {
    const std::string& kind = stanza.name();
    if (kind == "presence") {
        handlePresence(std::move(stanza), from, to);
    } else if (kind == "message") {
        handleMessage(std::move(stanza), from, to);
    } else if (kind == "iq") {
        if (to.hasResource()) {
            iqToOccupant(stanza, from, to);
            return;
        }
        handleIqToRoom(stanza, from);
    }
}

Jid Room::occupantJid(std::string_view nick) const {
    // The nickname came out of a prepared JID, so this cannot fail.
    return *Jid::make(jid_.local(), jid_.domain(), nick);
}

void Room::fail(const xml::Element& stanza, StanzaCondition condition, std::string_view text,
                std::optional<ErrorType> type) {
    if (stanza::isErrorStanza(stanza)) {
        return;  // RFC 6120 §8.3.1
    }
    stanza::StanzaErrorOptions options;
    options.type = type;
    options.by = jid_.full();
    options.includeOriginal = false;
    xml::Element error = stanza::makeStanzaError(stanza, condition, text, options);
    if (stanza.name() == "presence") {
        // As XEP-0045 §7.2 shows them: the client tells a failed join by this element.
        error.children().insert(error.children().begin(), xml::Element("x", std::string(ns::kMuc)));
    }
    send(std::move(error));
}

void Room::reply(const xml::Element& iq, std::optional<xml::Element> payload) {
    auto from = Jid::parse(iq.attr("from"));
    auto to = Jid::parse(iq.attr("to"));
    if (from && to) {
        replyResult(host_.router(), iq, *from, *to, std::move(payload));
    }
}

void Room::send(xml::Element&& stanza) {
    host_.router().route(std::move(stanza));
}

void Room::broadcast(const xml::Element& stanza) {
    for (const auto& [nick, occupant] : occupants_) {
        for (const auto& session : occupant.sessions) {
            xml::Element copy = stanza;
            copy.setAttr("to", session.jid.full());
            send(std::move(copy));
        }
    }
}

bool Room::seesRealJids(const Occupant& viewer) const {
    return config_.whois == Whois::Anyone || viewer.role == Role::Moderator;
}

void Room::iqToOccupant(const xml::Element& iq, const Jid& from, const Jid& to) {
    const std::string_view type = iq.attr("type");
    if (type != "get" && type != "set") {
        return;
    }
    const Occupant* sender = occupants_.byRealJid(from);
    const xml::Element* payload = iq.firstChildElement();
    if (sender == nullptr || sender->session(from) == nullptr) {
        // XEP-0410 §3: tells a client that believes it is joined that it is not.
        fail(iq, StanzaCondition::NotAcceptable, "you are not in this room");
        return;
    }
    if (sender->nick == to.resource() && payload != nullptr && payload->is("ping", ns::kPing) &&
        type == "get") {
        // XEP-0410 §4 (muc#self-ping-optimization): the room answers for its occupant.
        reply(iq);
        return;
    }
    // Iqs to other occupants (vCard requests ...) are not passed on.
    fail(iq, StanzaCondition::ServiceUnavailable, "this room does not pass iqs on to occupants");
}

void Room::handleIqToRoom(const xml::Element& iq, const Jid& from) {
    const std::string_view type = iq.attr("type");
    if (type != "get" && type != "set") {
        return;  // results and errors: the room asks nothing
    }
    const xml::Element* payload = iq.firstChildElement();
    if (payload == nullptr) {
        fail(iq, StanzaCondition::BadRequest, "an iq needs a payload");
        return;
    }
    if (payload->is("query", ns::kDiscoInfo)) {
        discoInfo(iq, from);
    } else if (payload->is("query", ns::kDiscoItems)) {
        if (type != "get") {
            fail(iq, StanzaCondition::NotAllowed, "disco#items is get only");
        } else if (!payload->attr("node").empty()) {
            fail(iq, StanzaCondition::ItemNotFound, "no such node");
        } else {
            // XEP-0045 §6.5: the occupants are not listed (their nicknames are for occupants).
            reply(iq, xml::Element("query", std::string(ns::kDiscoItems)));
        }
    } else if (payload->is("query", ns::kMucOwner)) {
        handleOwner(iq, from);
    } else if (payload->is("query", ns::kMucAdmin)) {
        handleAdmin(iq, from);
    } else if (payload->is("ping", ns::kPing) && type == "get") {
        reply(iq);
    } else {
        fail(iq, StanzaCondition::ServiceUnavailable,
             "this room does not support <" + payload->name() + " xmlns='" + payload->ns() + "'/>");
    }
}

void Room::discoInfo(const xml::Element& iq, const Jid&) {
    if (iq.attr("type") != "get") {
        fail(iq, StanzaCondition::NotAllowed, "disco#info is get only");
        return;
    }
    const std::string_view node = iq.firstChildElement()->attr("node");
    if (node == "http://jabber.org/protocol/muc#traffic") {
        // XEP-0045 §17.1.1: no traffic filtering here.
        fail(iq, StanzaCondition::FeatureNotImplemented, "every extension passes through");
        return;
    }
    if (!node.empty()) {
        fail(iq, StanzaCondition::ItemNotFound, "no such node");
        return;
    }
    if (locked_) {
        // XEP-0045 §10.1.1: until it is configured the room does not officially exist.
        fail(iq, StanzaCondition::ItemNotFound, "this room is being set up by its owner");
        return;
    }
    xml::Element query("query", std::string(ns::kDiscoInfo));
    xml::Element& identity = query.addChild("identity");
    identity.setAttr("category", "conference");
    identity.setAttr("type", "text");
    identity.setAttr("name", config_.title.empty() ? std::string(jid_.local()) : config_.title);
    std::vector<std::string> features = {
        std::string(ns::kDiscoInfo), std::string(ns::kMuc),
        "http://jabber.org/protocol/muc#stable_id",
        "http://jabber.org/protocol/muc#self-ping-optimization",  // XEP-0410 §4
    };
    for (auto& f : configFeatures(config_)) {
        features.push_back(std::move(f));
    }
    std::sort(features.begin(), features.end());
    for (const auto& f : features) {
        query.addChild("feature").setAttr("var", f);
    }
    query.addChild(roomInfoForm(config_, subject_.text, occupants_.size()));
    reply(iq, std::move(query));
}

// --- the write queue ---

void Room::enqueueWrite(const xml::Element& request, std::function<void(Room&)> run) {
    if (writeQueueFull()) {
        fail(request, StanzaCondition::ResourceConstraint,
             "too many changes to this room are waiting for the database", ErrorType::Wait);
        return;
    }
    xml::Element shell(request.name(), request.nsHandle());
    shell.attributes() = request.attributes();
    writes_.push_back(Write{std::move(shell), std::move(run)});
    runWrites();
}

void Room::writeDone() {
    writing_ = false;
    runWrites();
}

void Room::runWrites() {
    if (runningWrites_) {
        return;  // a write that finished at once: the loop below goes on
    }
    runningWrites_ = true;
    while (!writing_ && !writes_.empty() && !destroyed_) {
        Write write = std::move(writes_.front());
        writes_.pop_front();
        writing_ = true;
        write.run(*this);
    }
    runningWrites_ = false;
    if (destroyed_) {
        for (const Write& w : writes_) {
            fail(w.request, StanzaCondition::ItemNotFound, "the room has been destroyed");
        }
        writes_.clear();
    }
}

}  // namespace corvid::modules::muc
