#include "modules/muc/service.h"

#include "modules/module.h"  // replyResult
#include "stanza/ns.h"
#include "util/log.h"

namespace corvid::modules::muc {

namespace ns = stanza::ns;
using stanza::ErrorType;
using stanza::Jid;
using stanza::StanzaCondition;

namespace {

// Rooms whose data is being read from the database at once, and stanzas waiting for one of
// them; past that, requests get resource-constraint (a client sending to many unknown rooms
// must not queue without bound).
constexpr std::size_t kMaxLoading = 256;
constexpr std::size_t kMaxWaitingPerRoom = 32;

constexpr std::string_view kServiceName = "Chat rooms";

std::map<std::string, AffiliationEntry, std::less<>> affiliationsOf(
    const std::vector<storage::MucAffiliationRecord>& records) {
    std::map<std::string, AffiliationEntry, std::less<>> out;
    for (const auto& r : records) {
        auto affiliation = affiliationFromString(r.affiliation);
        if (affiliation && *affiliation != Affiliation::None) {
            out.emplace(r.jid, AffiliationEntry{*affiliation, r.nick, r.reason});
        }
    }
    return out;
}

Subject subjectOf(const storage::MucRoomRecord& r) {
    Subject s{r.subject, r.subjectNick, std::nullopt};
    if (r.subjectAtMs) {
        s.at = Clock::time_point(std::chrono::milliseconds(*r.subjectAtMs));
    }
    return s;
}

}  // namespace

MucService::MucService(router::Router& router, storage::Database& database,
                       ServiceSettings settings)
    : router_(router),
      store_(database),
      settings_(std::move(settings)),
      jid_(*Jid::parse(settings_.domain)) {}

MucService::~MucService() = default;

void MucService::handle(xml::Element&& stanza, const Jid& from, const Jid& to) {
    if (to.local().empty()) {
        toService(stanza, from);
        return;
    }
    if (auto it = rooms_.find(to.local()); it != rooms_.end()) {
        deliver(*it->second, std::move(stanza), from, to);
        return;
    }
    if (stanza::isErrorStanza(stanza)) {
        return;  // an error about a room that is gone
    }
    load(std::move(stanza), from, to);
}

void MucService::resume(std::string_view name, std::uint64_t id,
                        std::move_only_function<void(Room&)> f) {
    auto it = rooms_.find(name);
    if (it == rooms_.end() || it->second->id() != id) {
        return;  // the room went (or is another one by now): the result is of no use
    }
    f(*it->second);
    dropIfFinished(std::string(name));
}

void MucService::deliver(Room& room, xml::Element&& stanza, const Jid& from, const Jid& to) {
    const std::string name(room.jid().local());
    room.handle(std::move(stanza), from, to);
    dropIfFinished(name);
}

void MucService::dropIfFinished(const std::string& name) {
    if (auto it = rooms_.find(name); it != rooms_.end() && it->second->finished()) {
        log::debug("MUC: room {} is gone", it->second->jid().full());
        rooms_.erase(it);
    }
}

void MucService::fail(const xml::Element& stanza, StanzaCondition condition, std::string_view text,
                      std::optional<ErrorType> type) {
    if (stanza::isErrorStanza(stanza)) {
        return;
    }
    stanza::StanzaErrorOptions options;
    options.type = type;
    options.by = settings_.domain;
    options.includeOriginal = false;
    xml::Element error = stanza::makeStanzaError(stanza, condition, text, options);
    if (stanza.name() == "presence") {
        error.children().insert(error.children().begin(), xml::Element("x", std::string(ns::kMuc)));
    }
    router_.route(std::move(error));
}

// --- the service's own address ---

void MucService::toService(const xml::Element& stanza, const Jid& from) {
    if (stanza.name() != "iq") {
        if (stanza.name() == "message" && !stanza::isErrorStanza(stanza)) {
            fail(stanza, StanzaCondition::ServiceUnavailable,
                 "this is a chat service: send messages to its rooms");
        }
        return;
    }
    const std::string_view type = stanza.attr("type");
    if (type != "get" && type != "set") {
        return;
    }
    const xml::Element* payload = stanza.firstChildElement();
    if (payload == nullptr) {
        fail(stanza, StanzaCondition::BadRequest, "an iq needs a payload");
    } else if (payload->is("query", ns::kDiscoInfo) && type == "get") {
        discoInfo(stanza, from);
    } else if (payload->is("query", ns::kDiscoItems) && type == "get") {
        discoItems(stanza, from);
    } else if (payload->is("ping", ns::kPing) && type == "get") {
        replyResult(router_, stanza, from, jid_);
    } else {
        fail(stanza, StanzaCondition::ServiceUnavailable,
             "this chat service does not support <" + payload->name() + " xmlns='" + payload->ns() +
                 "'/> (" + std::string(type) + ")");
    }
}

void MucService::discoInfo(const xml::Element& iq, const Jid& from) {
    if (!iq.firstChildElement()->attr("node").empty()) {
        fail(iq, StanzaCondition::ItemNotFound, "no such node");
        return;
    }
    // XEP-0045 §6.2.
    xml::Element query("query", std::string(ns::kDiscoInfo));
    xml::Element& identity = query.addChild("identity");
    identity.setAttr("category", "conference");
    identity.setAttr("type", "text");
    identity.setAttr("name", std::string(kServiceName));
    for (std::string_view feature :
         {ns::kDiscoInfo, ns::kDiscoItems, ns::kMuc,
          std::string_view("http://jabber.org/protocol/muc#stable_id")}) {
        query.addChild("feature").setAttr("var", std::string(feature));
    }
    replyResult(router_, iq, from, jid_, std::move(query));
}

void MucService::discoItems(const xml::Element& iq, const Jid& from) {
    if (!iq.firstChildElement()->attr("node").empty()) {
        fail(iq, StanzaCondition::ItemNotFound, "no such node");
        return;
    }
    // XEP-0045 §6.3: the public rooms. The stored ones, updated by what is in memory (newer,
    // and the transient rooms).
    store_.publicRooms(
        settings_.domain,
        [this, alive = std::weak_ptr<const int>(alive_), iq,
         from](std::expected<std::vector<storage::MucListedRoom>, storage::StoreError> r) {
            if (alive.expired()) {
                return;
            }
            if (!r) {
                log::warn("MUC {}: listing rooms failed: {}", settings_.domain, r.error().message);
                fail(iq, StanzaCondition::InternalServerError, "the rooms could not be listed",
                     ErrorType::Wait);
                return;
            }
            std::map<std::string, std::string, std::less<>> listed;
            for (auto& room : *r) {
                listed[std::move(room.name)] = std::move(room.title);
            }
            for (const auto& [name, room] : rooms_) {
                if (room->config().isPublic && !room->locked()) {
                    listed[name] = room->config().title;
                } else {
                    listed.erase(name);
                }
            }
            xml::Element query("query", std::string(ns::kDiscoItems));
            for (const auto& [name, title] : listed) {
                xml::Element& item = query.addChild("item");
                item.setAttr("jid", name + "@" + settings_.domain);
                item.setAttr("name", title.empty() ? name : title);
            }
            replyResult(router_, iq, from, jid_, std::move(query));
        });
}

// --- rooms not in memory ---

void MucService::load(xml::Element&& stanza, const Jid& from, const Jid& to) {
    const std::string name(to.local());
    if (auto it = loading_.find(name); it != loading_.end()) {
        if (it->second.size() >= kMaxWaitingPerRoom) {
            fail(stanza, StanzaCondition::ResourceConstraint,
                 "too many requests wait for this room to load", ErrorType::Wait);
            return;
        }
        it->second.push_back({std::move(stanza), from, to});
        return;
    }
    if (loading_.size() >= kMaxLoading) {
        fail(stanza, StanzaCondition::ResourceConstraint, "too many rooms are loading at once",
             ErrorType::Wait);
        return;
    }
    loading_[name].push_back({std::move(stanza), from, to});
    store_.load(settings_.domain, name,
                [this, alive = std::weak_ptr<const int>(alive_), name](auto result) {
                    if (!alive.expired()) {
                        loaded(name, std::move(result));
                    }
                });
}

void MucService::loaded(
    const std::string& name,
    std::expected<std::optional<storage::MucStoredRoom>, storage::StoreError> result) {
    auto node = loading_.extract(name);
    if (node.empty()) {
        return;
    }
    std::vector<Waiting> waiting = std::move(node.mapped());
    if (!result) {
        log::warn("MUC {}: loading room {} failed: {}", settings_.domain, name,
                  result.error().message);
        for (const Waiting& w : waiting) {
            fail(w.stanza, StanzaCondition::InternalServerError, "the room could not be loaded",
                 ErrorType::Wait);
        }
        return;
    }
    if (*result && !rooms_.contains(name)) {
        const storage::MucStoredRoom& stored = **result;
        rooms_.emplace(name, std::make_unique<Room>(
                                 *this, nextRoomId_++, *Jid::make(name, settings_.domain),
                                 fromRecord(stored.room), affiliationsOf(stored.affiliations),
                                 subjectOf(stored.room), false));
    }
    for (Waiting& w : waiting) {
        if (auto it = rooms_.find(name); it != rooms_.end()) {
            deliver(*it->second, std::move(w.stanza), w.from, w.to);
        } else {
            absent(std::move(w.stanza), w.from, w.to);
        }
    }
}

std::optional<std::string> MucService::refuseCreate(const Jid& from) const {
    if (settings_.createRooms == CreateRooms::Nobody) {
        return "no new rooms can be created on this service";
    }
    if (!router_.isLocalDomain(from.domain()) || from.local().empty()) {
        return "only accounts of this server may create rooms here";
    }
    return std::nullopt;
}

void MucService::absent(xml::Element&& stanza, const Jid& from, const Jid& to) {
    const std::string& kind = stanza.name();
    const std::string_view type = stanza.attr("type");
    if (kind == "presence") {
        if (!type.empty() || !to.hasResource()) {
            return;  // leaving a room that is not there, probes ...
        }
        if (stanza.findChild("x", ns::kMuc) == nullptr) {
            // Not a join: a client that believes it is in a room that went.
            router_.route(Room::desyncKick(stanza, from, to));
            return;
        }
        if (auto refusal = refuseCreate(from)) {
            fail(stanza, StanzaCondition::NotAllowed, *refusal);  // XEP-0045 §10.1.1
            return;
        }
        // XEP-0045 §10.1.1: a new room, locked until its owner configures it.
        const std::string name(to.local());
        std::map<std::string, AffiliationEntry, std::less<>> owners;
        owners.emplace(from.bare().full(), AffiliationEntry{Affiliation::Owner, {}, {}});
        auto [it, inserted] = rooms_.emplace(
            name, std::make_unique<Room>(*this, nextRoomId_++, to.bare(), settings_.defaults,
                                         std::move(owners), Subject{}, true));
        log::debug("MUC: {} creates {}", from.full(), to.bare().full());
        deliver(*it->second, std::move(stanza), from, to);
        return;
    }
    // XEP-0045 §17.2 rule 3 (and alike for iqs).
    if (kind == "message" || (kind == "iq" && (type == "get" || type == "set"))) {
        fail(stanza, StanzaCondition::ItemNotFound, "no such room");
    }
}

}  // namespace corvid::modules::muc
