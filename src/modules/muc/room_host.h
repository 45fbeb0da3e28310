#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "modules/muc/room_config.h"
#include "router/router.h"
#include "storage/muc_store.h"

namespace corvid::modules::muc {

class Room;

/// Who may create rooms (modules.muc.create_rooms).
enum class CreateRooms : std::uint8_t { Local, Nobody };

/// The settings of one chat service (from [modules.muc]).
struct ServiceSettings {
    std::string domain;  ///< conference.example.org
    CreateRooms createRooms = CreateRooms::Local;
    ConfigLimits limits;  ///< what owners may configure
    RoomConfig defaults;  ///< the configuration of a new room
};

/// What a room uses of the chat service that holds it.
class RoomHost {
  public:
    virtual router::Router& router() = 0;
    virtual storage::MucStore& store() = 0;
    virtual const ServiceSettings& settings() const = 0;
    /// Runs `f` on the room `name` if it is still incarnation `id` (rooms vanish and are made
    /// anew under the same name), then removes the room if it has finished. For callbacks that
    /// return later (database writes).
    virtual void resume(std::string_view name, std::uint64_t id,
                        std::move_only_function<void(Room&)> f) = 0;
    /// Expires when the service goes: late callbacks check it before calling resume().
    virtual std::weak_ptr<const int> aliveToken() const = 0;

  protected:
    ~RoomHost() = default;
};

}  // namespace corvid::modules::muc
