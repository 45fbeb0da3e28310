#include "modules/mam/archive_writer.h"

#include "util/log.h"

namespace corvid::modules::mam {

namespace {

// Messages per statement: bounds one statement's size and time.
constexpr std::size_t kBatchMessages = 1000;
constexpr std::size_t kBatchBytes = 1024 * 1024;
// The strings' heap blocks and the deque slot, besides the XML itself.
constexpr std::size_t kEntryOverhead = 256;

std::size_t footprint(const storage::ArchiveDraft& d) {
    return kEntryOverhead + sizeof(d) + d.domain.size() + d.username.size() + d.withJid.size() +
           d.withResource.size() + d.stanza.size() + d.body.size();
}

}  // namespace

void ArchiveWriter::push(storage::ArchiveDraft&& draft, Written done) {
    const std::size_t bytes = footprint(draft);
    pendingBytes_ += bytes;
    ++pushed_;
    waiting_.push_back(Entry{std::move(draft), std::move(done), bytes});
    if (!writing_) {
        writeNext();
    }
}

void ArchiveWriter::afterWrites(std::move_only_function<void()> done) {
    if (answered_ == pushed_) {
        done();
        return;
    }
    barriers_.emplace_back(pushed_, std::move(done));
}

void ArchiveWriter::writeNext() {
    std::vector<Entry> batch;
    std::size_t bytes = 0;
    while (!waiting_.empty() && batch.size() < kBatchMessages &&
           (batch.empty() || bytes + waiting_.front().bytes <= kBatchBytes)) {
        bytes += waiting_.front().bytes;
        batch.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
    }
    writing_ = !batch.empty();
    if (batch.empty()) {
        return;
    }
    std::vector<storage::ArchiveDraft> drafts;
    drafts.reserve(batch.size());
    for (Entry& e : batch) {
        drafts.push_back(std::move(e.draft));
    }
    // The Database drops this callback when it is destroyed, and the server destroys it after
    // the modules without running the loop in between: `this` is alive whenever it runs.
    store_.store(std::move(drafts), defaultPolicy_,
                 [this, batch = std::move(batch)](
                     std::expected<std::vector<bool>, storage::StoreError> r) mutable {
                     written(std::move(batch), std::move(r));
                 });
}

void ArchiveWriter::written(std::vector<Entry> batch,
                            std::expected<std::vector<bool>, storage::StoreError> result) {
    if (!result) {
        log::warn("mam: {} message(s) not archived: {}", batch.size(), result.error().message);
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        Entry& e = batch[i];
        pendingBytes_ -= e.bytes;
        ++answered_;
        if (e.done) {
            e.done(result && (*result)[i]);
        }
    }
    writeNext();
    while (!barriers_.empty() && barriers_.front().first <= answered_) {
        auto done = std::move(barriers_.front().second);
        barriers_.pop_front();
        done();
    }
}

}  // namespace corvid::modules::mam
