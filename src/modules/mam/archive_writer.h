#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "storage/archive_store.h"

namespace corvid::modules::mam {

/// Archive writes off the delivery path: messages are queued and written in batches, one
/// statement in flight for every account (what arrives meanwhile makes the next batch), so a
/// message costs no round trip of its own. The queue is bounded by bytes; each message may carry
/// a completion callback, called once PostgreSQL has answered for it.
class ArchiveWriter {
  public:
    /// Called with true when the message is in the archive, false when it is not (the database
    /// failed, the account does not exist, or its preferences exclude it).
    using Written = std::move_only_function<void(bool archived)>;

    ArchiveWriter(storage::ArchiveStore& store, std::size_t maxPendingBytes,
                  storage::ArchivePolicy defaultPolicy)
        : store_(store), maxPendingBytes_(maxPendingBytes), defaultPolicy_(defaultPolicy) {}

    /// Whether a message of `bytes` would be taken now (the caller decides before it stamps).
    bool hasRoom() const { return pendingBytes_ < maxPendingBytes_; }
    /// Queues a message (the caller checked hasRoom()).
    void push(storage::ArchiveDraft&& draft, Written done = nullptr);
    /// Calls `done` once every message queued so far has been answered for: a query that runs
    /// afterwards sees them (read-your-writes for clients that sync right after sending).
    void afterWrites(std::move_only_function<void()> done);

    std::size_t pendingBytes() const { return pendingBytes_; }
    std::size_t waiting() const { return waiting_.size(); }
    bool idle() const { return !writing_ && waiting_.empty(); }

  private:
    struct Entry {
        storage::ArchiveDraft draft;
        Written done;
        std::size_t bytes = 0;
    };
    void writeNext();
    void written(std::vector<Entry> batch,
                 std::expected<std::vector<bool>, storage::StoreError> result);

    storage::ArchiveStore& store_;
    std::size_t maxPendingBytes_;
    storage::ArchivePolicy defaultPolicy_;
    std::deque<Entry> waiting_;
    bool writing_ = false;
    std::size_t pendingBytes_ = 0;  // waiting and in flight
    std::uint64_t pushed_ = 0;      // messages queued since the start
    std::uint64_t answered_ = 0;    // messages the database has answered for
    std::deque<std::pair<std::uint64_t, std::move_only_function<void()>>> barriers_;
};

}  // namespace corvid::modules::mam
