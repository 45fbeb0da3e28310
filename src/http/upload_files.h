#pragma once

#include <event2/event.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "http/http_server.h"
#include "util/c_handles.h"
#include "util/upload_grant.h"
#include "util/worker_pool.h"

namespace corvid::http {

struct UploadSettings {
    std::string directory;
    std::uint64_t maxBytes = 0;
    int retentionDays = 0;  ///< 0 = keep files forever
};

/// The HTTP side of XEP-0363 under /upload/: PUT of a file to a slot the upload module signed
/// (util::UploadGrant; checked here without the database), GET and HEAD of stored files, and
/// the CORS preflight that web clients send first. Every file operation runs on this handler's
/// own worker thread, one operation at a time per request; the loop only moves bytes. Files of a
/// slot: <directory>/<slot>.part while the PUT runs, then <slot> (the bytes) and <slot>.meta (the
/// content type and file name). Retention deletes files older than retentionDays, hourly.
class UploadFiles final : public Handler {
  public:
    UploadFiles(event_base* base, HttpServer& server, UploadSettings settings);
    ~UploadFiles();
    UploadFiles(const UploadFiles&) = delete;
    UploadFiles& operator=(const UploadFiles&) = delete;

    /// The signing secret (server secret "http-upload"); PUTs get 503 until it is set.
    void setSecret(std::string secret) { secret_ = std::move(secret); }

    /// Files whose transfer is under way (PUT or GET).
    std::size_t transfers() const { return transfers_.size(); }

    // Handler
    BodyMode onHeaders(const Request& request, RequestId id) override;
    void onBody(RequestId id, std::string_view chunk) override;
    void onRequest(Request&& request, RequestId id) override;
    void onAbandoned(RequestId id) override;
    void onDrained(RequestId id) override;

  private:
    struct Transfer;
    using Key = std::pair<std::uint64_t, std::uint64_t>;
    static Key key(RequestId id) { return {id.connection, id.sequence}; }

    BodyMode startPut(const Request& request, RequestId id, std::string slot, std::string filename);
    void startGet(const Request& request, RequestId id, std::string slot, std::string filename);
    /// Starts the next file operation of `t` if none is running.
    void pump(Transfer& t);
    void post(Transfer& t, std::move_only_function<void()> work,
              std::move_only_function<void(Transfer&)> done);
    void fail(Transfer& t, int status, std::string_view text);
    void finish(Transfer& t);
    void sweep();

    event_base* base_;
    HttpServer& server_;
    UploadSettings settings_;
    std::string secret_;
    std::map<Key, std::unique_ptr<Transfer>> transfers_;
    util::EventPtr retention_;
    // Last: destroyed first, so that no job's callback runs on a half-destroyed handler.
    std::unique_ptr<util::WorkerPool> io_;
};

}  // namespace corvid::http
