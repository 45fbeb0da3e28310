#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "modules/muc/room.h"
#include "modules/muc/room_host.h"
#include "router/router.h"
#include "storage/muc_store.h"

namespace corvid::modules::muc {

/// One chat service (XEP-0045 §6: conference.example.org): it answers for its domain (disco,
/// the list of public rooms) and holds the rooms. Rooms live in memory while in use; persistent
/// rooms are loaded from the database the first time a stanza comes for them, and the stanzas
/// that come while one loads wait for it (a bounded number).
class MucService final : public RoomHost {
  public:
    MucService(router::Router& router, storage::Database& database, ServiceSettings settings);
    ~MucService();
    MucService(const MucService&) = delete;
    MucService& operator=(const MucService&) = delete;

    /// A stanza for the service's domain or an address there (the router's domain handler).
    void handle(xml::Element&& stanza, const stanza::Jid& from, const stanza::Jid& to);

    // RoomHost
    router::Router& router() override { return router_; }
    storage::MucStore& store() override { return store_; }
    const ServiceSettings& settings() const override { return settings_; }
    void resume(std::string_view name, std::uint64_t id,
                std::move_only_function<void(Room&)> f) override;
    std::weak_ptr<const int> aliveToken() const override { return alive_; }

    std::size_t roomsInMemory() const { return rooms_.size(); }

  private:
    struct Waiting {
        xml::Element stanza;
        stanza::Jid from;
        stanza::Jid to;
    };

    void toService(const xml::Element& stanza, const stanza::Jid& from);
    void discoInfo(const xml::Element& iq, const stanza::Jid& from);
    void discoItems(const xml::Element& iq, const stanza::Jid& from);
    /// A stanza for a room that is not in memory: its data is loaded first.
    void load(xml::Element&& stanza, const stanza::Jid& from, const stanza::Jid& to);
    void loaded(const std::string& name,
                std::expected<std::optional<storage::MucStoredRoom>, storage::StoreError> result);
    /// A stanza for a room that does not exist: a join may create it (XEP-0045 §10.1).
    void absent(xml::Element&& stanza, const stanza::Jid& from, const stanza::Jid& to);
    /// Why `from` may not create a room here (modules.muc.create_rooms), or none.
    std::optional<std::string> refuseCreate(const stanza::Jid& from) const;
    /// Hands the stanza to the room, then drops the room if it has finished.
    void deliver(Room& room, xml::Element&& stanza, const stanza::Jid& from, const stanza::Jid& to);
    void dropIfFinished(const std::string& name);
    void fail(const xml::Element& stanza, stanza::StanzaCondition condition, std::string_view text,
              std::optional<stanza::ErrorType> type = std::nullopt);

    router::Router& router_;
    storage::MucStore store_;
    ServiceSettings settings_;
    stanza::Jid jid_;
    std::map<std::string, std::unique_ptr<Room>, std::less<>> rooms_;
    std::map<std::string, std::vector<Waiting>, std::less<>> loading_;
    std::uint64_t nextRoomId_ = 1;
    // Shared so that late database callbacks can hold a weak copy and see that the service is
    // gone (Database outlives the modules at shutdown, but a module could be unloaded earlier).
    std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
};

}  // namespace corvid::modules::muc
