#include "modules/offline_queue.h"

#include <cassert>

namespace corvid::modules {

namespace {

// The deque slot, the map node of its account, and the heap blocks of the strings.
constexpr std::size_t kEntryOverhead = 256;

}  // namespace

std::size_t OfflineQueue::footprint(const Entry& entry) {
    std::size_t n = kEntryOverhead + sizeof(Entry) + entry.stanza.size() + entry.user.full().size();
    for (const std::string& form : entry.blockedIf) {
        n += form.size();
    }
    for (const xml::Attribute& a : entry.shell.attributes()) {
        n += sizeof(a) + a.name.size() + a.value.size();
    }
    return n;
}

QueueAdmission OfflineQueue::push(Entry& entry) {
    if (totalBytes_ >= maxTotalBytes_) {
        return QueueAdmission::ServerFull;
    }
    auto it = accountBytes_.find(entry.user);
    if (it != accountBytes_.end() && it->second >= maxAccountBytes_) {
        return QueueAdmission::AccountFull;
    }
    entry.bytes = footprint(entry);
    if (it == accountBytes_.end()) {
        it = accountBytes_.emplace(entry.user, 0).first;
    }
    it->second += entry.bytes;
    totalBytes_ += entry.bytes;
    waiting_.push_back(std::move(entry));
    return QueueAdmission::Queued;
}

std::vector<OfflineQueue::Entry> OfflineQueue::take(std::size_t maxCount, std::size_t maxBytes) {
    std::vector<Entry> out;
    std::size_t bytes = 0;
    while (!waiting_.empty() && out.size() < maxCount &&
           (out.empty() || bytes + waiting_.front().bytes <= maxBytes)) {
        bytes += waiting_.front().bytes;
        out.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
    }
    return out;
}

void OfflineQueue::release(const Entry& entry) {
    auto it = accountBytes_.find(entry.user);
    assert(it != accountBytes_.end() && it->second >= entry.bytes);
    assert(totalBytes_ >= entry.bytes);
    totalBytes_ -= entry.bytes;
    it->second -= entry.bytes;
    if (it->second == 0) {
        accountBytes_.erase(it);
    }
}

std::size_t OfflineQueue::bytes(const stanza::Jid& user) const {
    auto it = accountBytes_.find(user);
    return it == accountBytes_.end() ? 0 : it->second;
}

}  // namespace corvid::modules
