#include "http/upload_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>

#include "util/log.h"

namespace corvid::http {

namespace {

constexpr std::string_view kPrefix = "/upload/";
constexpr std::size_t kSlotLength = 24;  // util::randomId(24), as the upload module makes them
/// Received bytes kept in memory per upload before the client is paused (flow control).
constexpr std::size_t kMaxPendingWrite = 1024 * 1024;
/// Bytes read from a file at once for a GET, and kept waiting for the client at most.
constexpr std::size_t kReadChunk = 256 * 1024;
/// File operations queued at once on the upload thread; more get 503.
constexpr std::size_t kIoQueue = 4096;
/// A .part file this old belongs to an upload that died with the process.
constexpr std::time_t kStalePartSeconds = 24 * 3600;

/// Filled by a job on the worker, read by its completion on the loop.
struct IoResult {
    int fd = -1;
    int error = 0;
    std::uint64_t size = 0;
    std::string data;
    std::string contentType;
    std::string filename;
};

bool validSlot(std::string_view slot) {
    if (slot.size() != kSlotLength) {
        return false;
    }
    for (char c : slot) {
        if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) {
            return false;
        }
    }
    return true;
}

/// A media type fit to be sent back in a header: "type/subtype" of token characters; its
/// parameters are dropped. "" when it is not one.
std::string cleanContentType(std::string_view value) {
    if (const auto semicolon = value.find(';'); semicolon != std::string_view::npos) {
        value = value.substr(0, semicolon);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    const auto slash = value.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == value.size() ||
        value.size() > 255) {
        return {};
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(value[i]);
        const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') ||
                           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                               std::string_view::npos;
        if (i != slash && !token) {
            return {};
        }
    }
    return std::string(value);
}

std::optional<std::string> queryValue(std::string_view query, std::string_view name) {
    std::size_t start = 0;
    while (start < query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) {
            end = query.size();
        }
        const std::string_view pair = query.substr(start, end - start);
        if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
            return std::string(pair.substr(name.size() + 1));
        }
        start = end + 1;
    }
    return std::nullopt;
}

template <class T>
std::optional<T> parseNumber(const std::optional<std::string>& text) {
    T value{};
    if (!text || text->empty()) {
        return std::nullopt;
    }
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) {
        return std::nullopt;
    }
    return value;
}

void addCors(Response& r) {
    // Web clients upload from their own origin; the URLs are capabilities, not cookies.
    r.set("Access-Control-Allow-Origin", "*");
    r.set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS");
    r.set("Access-Control-Allow-Headers", "Content-Type");
    r.set("Access-Control-Max-Age", "86400");
}

Response textResponse(int status, std::string_view text) {
    Response r(status, "text/plain; charset=utf-8", std::string(text) + "\n");
    addCors(r);
    return r;
}

/// RFC 6266: inline only for media a browser shows without running anything (not SVG, which
/// may hold scripts); the name as UTF-8 (RFC 8187) and as a plain ASCII fallback.
std::string contentDisposition(std::string_view type, std::string_view filename) {
    const bool media = (type.starts_with("image/") && type != "image/svg+xml") ||
                       type.starts_with("audio/") || type.starts_with("video/");
    std::string ascii;
    for (unsigned char c : filename) {
        ascii += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%') ? static_cast<char>(c)
                                                                              : '_';
    }
    return std::string(media ? "inline" : "attachment") + "; filename=\"" + ascii +
           "\"; filename*=UTF-8''" + percentEncode(filename);
}

bool writeAll(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct UploadFiles::Transfer {
    enum class Kind { Put, Get };
    RequestId id;
    Kind kind = Kind::Put;
    std::string slot;
    std::string filename;
    std::string contentType;
    std::uint64_t size = 0;      // PUT: the slot's size; GET: the file's
    std::uint64_t moved = 0;     // bytes written (PUT) or read (GET) so far
    std::uint64_t received = 0;  // PUT: bytes of the body received
    int fd = -1;
    bool busy = false;  // a file operation is running on the worker
    bool opened = false;
    bool bodyComplete = false;
    bool paused = false;
    bool abandoned = false;
    bool ending = false;  // answered or failed: only the clean-up is left
    bool head = false;
    std::string pending;  // PUT: received, not written yet
};

UploadFiles::UploadFiles(event_base* base, HttpServer& server, UploadSettings settings)
    : base_(base),
      server_(server),
      settings_(std::move(settings)),
      io_(std::make_unique<util::WorkerPool>(base, 1, kIoQueue)) {
    if (settings_.retentionDays > 0) {
        retention_.reset(event_new(
            base_, -1, EV_PERSIST,
            [](evutil_socket_t, short, void* arg) { static_cast<UploadFiles*>(arg)->sweep(); },
            this));
        const timeval hourly{3600, 0};
        event_add(retention_.get(), &hourly);
        sweep();
    }
}

UploadFiles::~UploadFiles() {
    io_.reset();  // joins the thread; no completion runs after this
    for (auto& [k, t] : transfers_) {
        if (t->fd >= 0) {
            ::close(t->fd);
        }
    }
}

BodyMode UploadFiles::onHeaders(const Request& request, RequestId id) {
    if (request.method == "OPTIONS") {
        Response r(204, "", "");
        addCors(r);
        server_.respond(id, std::move(r));
        return BodyMode::Answered;
    }
    // /upload/<slot>/<file name>
    const std::string_view rest = std::string_view(request.path).substr(kPrefix.size());
    const auto slash = rest.find('/');
    std::optional<std::string> filename;
    if (slash != std::string_view::npos) {
        filename = percentDecode(rest.substr(slash + 1));
    }
    const std::string slot(rest.substr(0, slash == std::string_view::npos ? 0 : slash));
    if (!validSlot(slot) || !filename || filename->empty()) {
        server_.respond(id, textResponse(404, "no such file"));
        return BodyMode::Answered;
    }
    if (request.method == "PUT") {
        return startPut(request, id, slot, std::move(*filename));
    }
    if (request.method == "GET" || request.method == "HEAD") {
        if (request.contentLength.value_or(0) > 0) {
            server_.respond(id, textResponse(400, "a GET has no body"));
            return BodyMode::Answered;
        }
        return BodyMode::Buffer;  // onRequest() does the work
    }
    Response r = textResponse(405, "only GET, HEAD, PUT and OPTIONS here");
    r.set("Allow", "GET, HEAD, PUT, OPTIONS");
    server_.respond(id, std::move(r));
    return BodyMode::Answered;
}

BodyMode UploadFiles::startPut(const Request& request, RequestId id, std::string slot,
                               std::string filename) {
    auto refuse = [&](int status, std::string_view text) {
        log::info("upload: PUT {} from {} refused: {}", request.path, request.peerAddress, text);
        server_.respond(id, textResponse(status, text));
        return BodyMode::Answered;
    };
    if (secret_.empty()) {
        return refuse(503, "the upload service is starting; try again");
    }
    const auto expires = parseNumber<std::int64_t>(queryValue(request.query, "e"));
    const auto size = parseNumber<std::uint64_t>(queryValue(request.query, "s"));
    const auto signature = queryValue(request.query, "sig");
    if (!expires || !size || !signature) {
        return refuse(403, "this URL is not a signed upload slot");
    }
    util::UploadGrant grant{slot, filename, *size, "", *expires};
    const std::string* typeHeader = request.header("content-type");
    const std::string sentType = typeHeader ? cleanContentType(*typeHeader) : std::string();
    // The slot signs the content type the client asked for, or "" when it named none (then any
    // type may be sent).
    grant.contentType = sentType;
    bool valid = !sentType.empty() && grant.verify(secret_, *signature);
    if (!valid) {
        grant.contentType.clear();
        valid = grant.verify(secret_, *signature);
    }
    if (!valid) {
        return refuse(403, "the signature does not match (wrong URL or content type)");
    }
    if (*expires < unixNow()) {
        return refuse(403, "this upload slot has expired; request a new one");
    }
    if (!request.contentLength) {
        return refuse(411, "send the file with a Content-Length");
    }
    if (*request.contentLength != *size) {
        return refuse(400, "Content-Length differs from the size of the slot (" +
                               std::to_string(*size) + " bytes)");
    }
    if (*size > settings_.maxBytes) {
        return refuse(413, "the file is larger than the service accepts");
    }
    auto owned = std::make_unique<Transfer>();
    owned->id = id;
    owned->kind = Transfer::Kind::Put;
    owned->slot = std::move(slot);
    owned->filename = std::move(filename);
    owned->contentType = grant.contentType.empty()
                             ? (sentType.empty() ? "application/octet-stream" : sentType)
                             : grant.contentType;
    owned->size = *size;
    Transfer& transfer = *owned;
    transfers_[key(id)] = std::move(owned);
    auto result = std::make_unique<IoResult>();
    IoResult* r = result.get();
    const std::string base = settings_.directory + "/" + transfer.slot;
    post(
        transfer,
        [r, base] {
            if (::access(base.c_str(), F_OK) == 0) {
                r->error = EEXIST;
                return;
            }
            r->fd = ::open((base + ".part").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
            r->error = r->fd < 0 ? errno : 0;
        },
        [this, result = std::move(result)](Transfer& t) {
            if (result->error == EEXIST) {
                fail(t, 409, "this slot has a file already");
                return;
            }
            if (result->fd < 0) {
                log::warn("upload: cannot create {}/{}.part: {}", settings_.directory, t.slot,
                          std::strerror(result->error));
                fail(t, 500, "cannot store the file");
                return;
            }
            t.fd = result->fd;
            t.opened = true;
            pump(t);
        });
    return BodyMode::Stream;
}

void UploadFiles::onBody(RequestId id, std::string_view chunk) {
    auto it = transfers_.find(key(id));
    if (it == transfers_.end() || it->second->ending) {
        return;
    }
    Transfer& t = *it->second;
    t.received += chunk.size();
    t.pending.append(chunk);
    if (t.pending.size() >= kMaxPendingWrite && !t.paused) {
        t.paused = true;
        server_.pauseBody(id);
    }
    pump(t);
}

void UploadFiles::onRequest(Request&& request, RequestId id) {
    if (request.method == "GET" || request.method == "HEAD") {
        const std::string_view rest = std::string_view(request.path).substr(kPrefix.size());
        const auto slash = rest.find('/');
        startGet(request, id, std::string(rest.substr(0, slash)),
                 *percentDecode(rest.substr(slash + 1)));
        return;
    }
    auto it = transfers_.find(key(id));
    if (it == transfers_.end() || it->second->ending) {
        return;
    }
    Transfer& t = *it->second;
    t.bodyComplete = true;
    pump(t);
}

void UploadFiles::startGet(const Request& request, RequestId id, std::string slot,
                           std::string filename) {
    auto owned = std::make_unique<Transfer>();
    owned->id = id;
    owned->kind = Transfer::Kind::Get;
    owned->slot = std::move(slot);
    owned->filename = std::move(filename);
    owned->head = request.method == "HEAD";
    Transfer& transfer = *owned;
    transfers_[key(id)] = std::move(owned);
    auto result = std::make_unique<IoResult>();
    IoResult* r = result.get();
    const std::string base = settings_.directory + "/" + transfer.slot;
    post(
        transfer,
        [r, base] {
            r->fd = ::open(base.c_str(), O_RDONLY | O_CLOEXEC);
            if (r->fd < 0) {
                r->error = errno;
                return;
            }
            struct stat st {};
            if (::fstat(r->fd, &st) != 0) {
                r->error = errno;
                return;
            }
            r->size = static_cast<std::uint64_t>(st.st_size);
            const int meta = ::open((base + ".meta").c_str(), O_RDONLY | O_CLOEXEC);
            if (meta < 0) {
                r->error = errno;
                return;
            }
            char buffer[1024];
            const ssize_t n = ::read(meta, buffer, sizeof(buffer));
            ::close(meta);
            const std::string_view text(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
            const auto first = text.find('\n');
            const auto second =
                first == std::string_view::npos ? first : text.find('\n', first + 1);
            if (second == std::string_view::npos) {
                r->error = EINVAL;
                return;
            }
            r->contentType = std::string(text.substr(0, first));
            r->filename = std::string(text.substr(first + 1, second - first - 1));
        },
        [this, result = std::move(result)](Transfer& t) {
            t.fd = result->fd;
            t.opened = t.fd >= 0;
            // The file name is part of the URL: only the URL handed out finds the file.
            if (result->error != 0 || result->filename != t.filename) {
                if (result->error != 0 && result->error != ENOENT) {
                    log::warn("upload: cannot read {}/{}: {}", settings_.directory, t.slot,
                              std::strerror(result->error));
                }
                fail(t, 404, "no such file");
                return;
            }
            t.size = result->size;
            t.contentType = result->contentType;
            Response head(200, t.contentType, "");
            head.set("Content-Disposition", contentDisposition(t.contentType, t.filename));
            // The file is the uploader's, served from our origin: never sniffed, never run.
            head.set("X-Content-Type-Options", "nosniff");
            head.set("Content-Security-Policy", "default-src 'none'; sandbox");
            head.set("Cache-Control", "public, max-age=31536000, immutable");
            addCors(head);
            server_.startResponse(t.id, std::move(head), t.size);
            if (t.head || t.size == 0) {
                finish(t);
                return;
            }
            pump(t);
        });
}

void UploadFiles::pump(Transfer& t) {
    if (t.busy || !t.opened || t.ending) {
        return;
    }
    if (t.kind == Transfer::Kind::Get) {
        if (server_.outputPending(t.id) > kReadChunk) {
            return;  // onDrained() comes back
        }
        auto result = std::make_unique<IoResult>();
        IoResult* r = result.get();
        const std::size_t want =
            static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, t.size - t.moved));
        post(
            t,
            [r, fd = t.fd, offset = t.moved, want] {
                r->data.resize(want);
                std::size_t got = 0;
                while (got < want) {
                    const ssize_t n = ::pread(fd, r->data.data() + got, want - got,
                                              static_cast<off_t>(offset + got));
                    if (n < 0 && errno == EINTR) {
                        continue;
                    }
                    if (n <= 0) {
                        r->error = n < 0 ? errno : EIO;  // EIO: the file shrank
                        break;
                    }
                    got += static_cast<std::size_t>(n);
                }
                r->data.resize(got);
            },
            [this, result = std::move(result)](Transfer& tr) {
                if (result->error != 0) {
                    log::warn("upload: reading {}: {}", tr.slot, std::strerror(result->error));
                    server_.abort(tr.id);  // the head is out: all we can do is stop
                    finish(tr);
                    return;
                }
                tr.moved += result->data.size();
                server_.sendBody(tr.id, result->data);
                if (tr.moved >= tr.size) {
                    finish(tr);
                    return;
                }
                pump(tr);
            });
        return;
    }
    if (!t.pending.empty()) {
        auto result = std::make_unique<IoResult>();
        IoResult* r = result.get();
        result->data = std::exchange(t.pending, {});
        post(
            t, [r, fd = t.fd] { r->error = writeAll(fd, r->data) ? 0 : errno; },
            [this, result = std::move(result)](Transfer& tr) {
                if (result->error != 0) {
                    log::warn("upload: writing {}: {}", tr.slot, std::strerror(result->error));
                    fail(tr, result->error == ENOSPC ? 507 : 500, "cannot store the file");
                    return;
                }
                tr.moved += result->data.size();
                if (tr.paused && tr.pending.size() < kMaxPendingWrite) {
                    tr.paused = false;
                    server_.resumeBody(tr.id);
                }
                pump(tr);
            });
        return;
    }
    if (!t.bodyComplete) {
        return;
    }
    // All of it is written: make it durable, then visible (the file appears whole or not at all).
    auto result = std::make_unique<IoResult>();
    IoResult* r = result.get();
    const std::string base = settings_.directory + "/" + t.slot;
    const std::string meta = t.contentType + "\n" + t.filename + "\n";
    post(
        t,
        [r, fd = t.fd, base, meta] {
            const int metaFd =
                ::open((base + ".meta").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
            if (::fdatasync(fd) != 0 || metaFd < 0 || !writeAll(metaFd, meta) ||
                ::fdatasync(metaFd) != 0 || ::rename((base + ".part").c_str(), base.c_str()) != 0) {
                r->error = errno != 0 ? errno : EIO;
            }
            if (metaFd >= 0) {
                ::close(metaFd);
            }
        },
        [this, result = std::move(result)](Transfer& tr) {
            if (result->error != 0) {
                log::warn("upload: finishing {}: {}", tr.slot, std::strerror(result->error));
                fail(tr, result->error == ENOSPC ? 507 : 500, "cannot store the file");
                return;
            }
            ::close(std::exchange(tr.fd, -1));
            log::info("upload: stored {} ({} bytes, {})", tr.slot, tr.moved, tr.contentType);
            server_.respond(tr.id, textResponse(201, "stored"));
            finish(tr);
        });
}

void UploadFiles::post(Transfer& t, std::move_only_function<void()> work,
                       std::move_only_function<void(Transfer&)> done) {
    t.busy = true;
    const Key k = key(t.id);
    const auto posted = io_->post(std::move(work), [this, k, done = std::move(done)]() mutable {
        auto it = transfers_.find(k);
        if (it == transfers_.end()) {
            return;
        }
        Transfer& tr = *it->second;
        tr.busy = false;
        if (tr.abandoned && !tr.ending) {
            fail(tr, 500, "");  // nobody is listening: just clean up
            return;
        }
        done(tr);
    });
    if (!posted) {
        t.busy = false;
        fail(t, 503, "the server is busy; try again");
    }
}

void UploadFiles::fail(Transfer& t, int status, std::string_view text) {
    if (!t.abandoned && !t.ending) {
        server_.respond(t.id, textResponse(status, text));
    }
    t.ending = true;
    t.pending.clear();
    if (t.kind == Transfer::Kind::Put && t.fd >= 0) {
        // A file that was not stored whole is not kept.
        const std::string part = settings_.directory + "/" + t.slot + ".part";
        const int fd = std::exchange(t.fd, -1);
        t.busy = true;
        const Key k = key(t.id);
        const auto posted = io_->post(
            [fd, part] {
                ::close(fd);
                ::unlink(part.c_str());
            },
            [this, k] { transfers_.erase(k); });
        if (posted) {
            return;
        }
        ::close(fd);  // the .part file stays until the retention sweep
    }
    finish(t);
}

void UploadFiles::finish(Transfer& t) {
    if (t.fd >= 0) {
        ::close(t.fd);
    }
    transfers_.erase(key(t.id));
}

void UploadFiles::onAbandoned(RequestId id) {
    auto it = transfers_.find(key(id));
    if (it == transfers_.end()) {
        return;
    }
    Transfer& t = *it->second;
    t.abandoned = true;
    if (!t.busy && !t.ending) {
        fail(t, 500, "");
    }
}

void UploadFiles::onDrained(RequestId id) {
    if (auto it = transfers_.find(key(id)); it != transfers_.end()) {
        pump(*it->second);
    }
}

void UploadFiles::sweep() {
    const std::time_t now = std::time(nullptr);
    const std::time_t cutoff = now - static_cast<std::time_t>(settings_.retentionDays) * 86400;
    const bool posted =
        io_->post(
               [dir = settings_.directory, cutoff, stale = now - kStalePartSeconds] {
                   DIR* d = ::opendir(dir.c_str());
                   if (d == nullptr) {
                       return;
                   }
                   std::size_t removed = 0;
                   while (const dirent* e = ::readdir(d)) {
                       const std::string name = e->d_name;
                       const std::string slot = name.substr(0, name.find('.'));
                       if (!validSlot(slot)) {
                           continue;  // not ours
                       }
                       const std::string path = dir + "/" + name;
                       struct stat st {};
                       if (::stat(path.c_str(), &st) != 0) {
                           continue;
                       }
                       const bool part = name.ends_with(".part");
                       if (st.st_mtime < (part ? stale : cutoff)) {
                           removed += ::unlink(path.c_str()) == 0 ? 1 : 0;
                       }
                   }
                   ::closedir(d);
                   if (removed > 0) {
                       log::info("upload retention: {} file(s) deleted from {}", removed, dir);
                   }
               },
               [] {})
            .has_value();
    if (!posted) {
        log::warn("upload retention: the upload thread is busy; next hour");
    }
}

}  // namespace corvid::http
