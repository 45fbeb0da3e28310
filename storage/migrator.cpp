#include "storage/migrator.h"

#include <algorithm>
#include <set>

namespace corvid::storage::detail {

Migrator::Migrator(Connection& conn, std::span<const Migration> migrations, Done done)
    : conn_(conn), migrations_(migrations), done_(std::move(done)) {}

void Migrator::run() {
    lockAndRead();
}

void Migrator::submit(std::string sql, std::move_only_function<void(BatchResult)> next) {
    if (!conn_.up()) {
        finish(std::unexpected("lost the database connection while migrating"));
        return;
    }
    Op op;
    op.ownedSql = std::move(sql);
    op.simple = true;
    Request request;
    request.ops.push_back(std::move(op));
    request.done = std::move(next);
    conn_.submit(std::move(request));
}

void Migrator::lockAndRead() {
    // The transaction stays open (and the lock held) until apply() commits, or COMMIT below.
    submit(
        "BEGIN;\n"
        "SELECT pg_advisory_xact_lock(" +
            std::to_string(kLockKey) +
            ");\n"
            "CREATE TABLE IF NOT EXISTS schema_version (\n"
            "    version    integer PRIMARY KEY,\n"
            "    name       text NOT NULL,\n"
            "    applied_at timestamptz NOT NULL DEFAULT now()\n"
            ");\n"
            "SELECT version FROM schema_version ORDER BY version",
        [this](BatchResult r) { onVersions(std::move(r)); });
}

void Migrator::onVersions(BatchResult result) {
    if (!result.ok()) {
        finish(std::unexpected("reading schema_version failed: " + result.error->message));
        return;
    }
    if (result.results.empty()) {
        finish(std::unexpected("reading schema_version returned nothing"));
        return;
    }
    const QueryResult& versions = result.results.back();
    std::set<int> applied;
    for (int row = 0; row < versions.rows(); ++row) {
        applied.insert(static_cast<int>(versions.int64(row, 0).value_or(0)));
    }
    int newestKnown = migrations_.empty() ? 0 : migrations_.back().version;
    if (!applied.empty() && *applied.rbegin() > newestKnown) {
        finish(std::unexpected("the database schema (version " + std::to_string(*applied.rbegin()) +
                               ") is newer than this program knows (" +
                               std::to_string(newestKnown) + ")"));
        return;
    }
    auto pending = std::find_if(migrations_.begin(), migrations_.end(),
                                [&](const Migration& m) { return !applied.contains(m.version); });
    if (pending == migrations_.end()) {
        submit("COMMIT", [this](BatchResult r) {
            if (!r.ok()) {
                finish(std::unexpected("COMMIT failed: " + r.error->message));
                return;
            }
            finish(applied_);
        });
        return;
    }
    apply(*pending);
}

void Migrator::apply(const Migration& m) {
    // The names are [a-z0-9_]+ (checked by embed_schema.cmake), safe to quote as they are. The
    // newline before ';' ends a trailing `--` comment in the file.
    std::string sql(m.sql);
    sql += "\n;\nINSERT INTO schema_version (version, name) VALUES (" + std::to_string(m.version) +
           ", '" + std::string(m.name) + "');\nCOMMIT";
    submit(std::move(sql), [this, &m](BatchResult r) {
        if (!r.ok()) {
            finish(std::unexpected("migration " + std::to_string(m.version) + "_" +
                                   std::string(m.name) + " failed: " + r.error->message));
            return;
        }
        ++applied_;
        lockAndRead();
    });
}

void Migrator::finish(std::expected<int, std::string> outcome) {
    // Last thing: done may destroy the owner of this Migrator.
    Done done = std::move(done_);
    if (done) {
        done(std::move(outcome));
    }
}

}  // namespace corvid::storage::detail
