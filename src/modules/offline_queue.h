#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "stanza/jid.h"
#include "xml/element.h"

namespace corvid::modules {

/// What OfflineQueue::push() did with a message.
enum class QueueAdmission {
    Queued,
    AccountFull,  ///< what waits for this account reached its bound: refused
    ServerFull,   ///< what waits for all accounts reached its bound: refused
};

/// The offline messages waiting to be written to PostgreSQL, oldest first, bounded by bytes per
/// recipient account and for all accounts together. A message is refused while what its account
/// (or the whole queue) holds has reached the bound, so memory stays under each bound plus one
/// stanza, and a stanza of any size is taken when there is room. Messages taken out for writing
/// still count until release(): their memory is held until the database has answered.
class OfflineQueue {
  public:
    struct Entry {
        stanza::Jid user;    ///< the recipient's bare JID
        std::string stanza;  ///< the XML to store (moved out when written: `bytes` keeps counting)
        std::vector<std::string> blockedIf;  ///< see storage::OfflineDraft
        xml::Element shell;     ///< the original message without its children, for an error reply
        std::size_t bytes = 0;  ///< what it counts for, set by push()
    };

    OfflineQueue(std::size_t maxAccountBytes, std::size_t maxTotalBytes)
        : maxAccountBytes_(maxAccountBytes), maxTotalBytes_(maxTotalBytes) {}

    /// Queues the entry unless a bound is reached (the entry is then left as it was).
    QueueAdmission push(Entry& entry);
    /// Takes out the oldest entries: at most maxCount, and no more than maxBytes together
    /// (but always one, if any waits).
    std::vector<Entry> take(std::size_t maxCount, std::size_t maxBytes);
    /// An entry taken out is done with: its bytes stop counting.
    void release(const Entry& entry);

    /// Nothing waits to be taken out (entries taken out may still count).
    bool empty() const { return waiting_.empty(); }
    /// Bytes counted: waiting and taken out but not released.
    std::size_t bytes() const { return totalBytes_; }
    std::size_t bytes(const stanza::Jid& user) const;

    /// What an entry costs: its strings and a fixed allowance for the containers around them.
    static std::size_t footprint(const Entry& entry);

  private:
    std::size_t maxAccountBytes_;
    std::size_t maxTotalBytes_;
    std::size_t totalBytes_ = 0;
    std::deque<Entry> waiting_;
    std::unordered_map<stanza::Jid, std::size_t> accountBytes_;  // only accounts that count
};

}  // namespace corvid::modules
