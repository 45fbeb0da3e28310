// corvidctl: account administration on the daemon's own database.
//
//   corvidctl [--config FILE] adduser JID PASSWORD
//   corvidctl [--config FILE] deluser JID
//   corvidctl [--config FILE] passwd JID PASSWORD
//   corvidctl [--config FILE] list-users DOMAIN
//
// A PASSWORD of "-" is read from the first line of standard input, so that it stays out of the
// process list and the shell history.

#include <event2/event.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "conf/config.h"
#include "sasl/scram_keys.h"
#include "stanza/jid.h"
#include "storage/account_store.h"
#include "storage/database.h"
#include "util/c_handles.h"

namespace {

using namespace corvid;

constexpr const char* kDefaultConfig = "/etc/corvid/corvid.toml";

int usage(std::FILE* out) {
    std::fputs(
        "usage: corvidctl [--config FILE] COMMAND ARGS\n"
        "  adduser JID PASSWORD    create an account (PASSWORD '-' reads it from stdin)\n"
        "  deluser JID             delete an account and everything stored for it\n"
        "  passwd JID PASSWORD     set a new password\n"
        "  list-users DOMAIN       list the accounts of a host\n",
        out);
    return out == stdout ? 0 : 2;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "corvidctl: %s\n", message.c_str());
    return 1;
}

storage::StoredScram toStored(const sasl::ScramKeys& k) {
    storage::StoredScram s;
    s.salt.assign(k.salt.begin(), k.salt.end());
    s.iterations = static_cast<std::uint32_t>(k.iterations);
    s.storedKey.assign(k.storedKey.begin(), k.storedKey.end());
    s.serverKey.assign(k.serverKey.begin(), k.serverKey.end());
    return s;
}

/// Runs the database's loop until the operation calls done, or fails after a timeout.
class Admin {
  public:
    explicit Admin(const conf::Config& config) : config_(config), base_(event_base_new()) {
        storage::DbConfig db;
        db.dsn = config.database.dsn;
        db.connections = 1;
        db.statementTimeoutMs = static_cast<int>(config.database.statementTimeout.count());
        db.connectTimeoutMs = static_cast<int>(config.database.connectTimeout.count());
        db.reconnectMaxBackoffMs = static_cast<int>(config.database.reconnectMaxBackoff.count());
        database_ = std::make_unique<storage::Database>(base_.get(), db);
        accounts_ = std::make_unique<storage::AccountStore>(*database_);
    }

    std::expected<void, std::string> connect() {
        bool done = false;
        std::expected<void, std::string> result;
        database_->start([&](std::expected<void, std::string> ready) {
            result = std::move(ready);
            done = true;
        });
        if (!storage::runUntil(base_.get(), done)) {
            return std::unexpected("the database did not answer in time");
        }
        return result;
    }

    template <typename T, typename Start>
    std::expected<T, storage::StoreError> call(Start&& start) {
        bool done = false;
        std::expected<T, storage::StoreError> result =
            std::unexpected(storage::StoreError{storage::StoreErrorKind::Timeout, "timed out"});
        start(*accounts_, [&](std::expected<T, storage::StoreError> r) {
            result = std::move(r);
            done = true;
        });
        storage::runUntil(base_.get(), done);
        return result;
    }

    const conf::Config& config() const { return config_; }

  private:
    const conf::Config& config_;
    util::EventBasePtr base_;
    std::unique_ptr<storage::Database> database_;
    std::unique_ptr<storage::AccountStore> accounts_;
};

/// The account a JID argument names: bare, on a configured host.
std::expected<stanza::Jid, std::string> accountJid(const conf::Config& config,
                                                   const std::string& text) {
    auto jid = stanza::Jid::parse(text);
    if (!jid) {
        return std::unexpected("invalid JID '" + text + "': " + jid.error().reason);
    }
    if (!jid->hasLocal() || jid->hasResource()) {
        return std::unexpected("'" + text + "' is not an account JID (user@domain)");
    }
    if (config.findHost(jid->domain()) == nullptr) {
        return std::unexpected("'" + std::string(jid->domain()) +
                               "' is not a host of this server (see [[hosts]] in the config)");
    }
    return *jid;
}

std::expected<storage::ScramCredentials, std::string> credentialsFor(const conf::Config& config,
                                                                     std::string password) {
    if (password == "-") {
        if (!std::getline(std::cin, password)) {
            return std::unexpected("no password on standard input");
        }
    }
    if (password.empty()) {
        return std::unexpected("the password is empty");
    }
    auto prepped = stanza::prepOpaqueString(password);
    if (!prepped) {
        return std::unexpected("the password is not acceptable: " + prepped.error().reason);
    }
    // Both hashes, so that clients can use SCRAM-SHA-1 or SCRAM-SHA-256; never the password.
    sasl::Credentials keys = sasl::makeCredentials(*prepped, config.auth.scramIterations);
    storage::ScramCredentials stored;
    stored.sha1 = toStored(*keys.sha1);
    stored.sha256 = toStored(*keys.sha256);
    return stored;
}

std::string describe(const storage::StoreError& error) {
    switch (error.kind) {
        case storage::StoreErrorKind::AlreadyExists:
            return "the account already exists";
        case storage::StoreErrorKind::NotFound:
            return "no such account";
        case storage::StoreErrorKind::Unavailable:
            return "database unavailable: " + error.message;
        case storage::StoreErrorKind::Timeout:
            return "database timeout: " + error.message;
        case storage::StoreErrorKind::Other:
            return error.message;
    }
    return error.message;
}

}  // namespace

int main(int argc, char** argv) {
    std::string configPath = kDefaultConfig;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
            configPath = argv[++i];
        } else if (arg == "--help" || arg == "-h") {
            return usage(stdout);
        } else {
            args.push_back(arg);
        }
    }
    if (args.empty()) {
        return usage(stderr);
    }
    auto config = conf::loadConfigFile(configPath);
    if (!config) {
        for (const auto& error : config.error()) {
            std::fprintf(stderr, "%s\n", error.format().c_str());
        }
        return 1;
    }
    const std::string& command = args[0];
    auto expectArgs = [&](std::size_t n) { return args.size() == n + 1; };

    Admin admin(*config);
    auto withDatabase = [&]() -> std::expected<void, std::string> { return admin.connect(); };

    if (command == "adduser" || command == "passwd") {
        if (!expectArgs(2)) {
            return usage(stderr);
        }
        auto jid = accountJid(*config, args[1]);
        if (!jid) {
            return fail(jid.error());
        }
        auto creds = credentialsFor(*config, args[2]);
        if (!creds) {
            return fail(creds.error());
        }
        if (auto ok = withDatabase(); !ok) {
            return fail(ok.error());
        }
        const std::string domain(jid->domain());
        const std::string user(jid->local());
        auto r = admin.call<void>([&](storage::AccountStore& s, auto done) {
            if (command == "adduser") {
                s.createAccount(domain, user, *creds, std::move(done));
            } else {
                s.setCredentials(domain, user, *creds, std::move(done));
            }
        });
        if (!r) {
            return fail(jid->full() + ": " + describe(r.error()));
        }
        std::printf("%s %s\n", command == "adduser" ? "created" : "password changed for",
                    jid->full().c_str());
        return 0;
    }
    if (command == "deluser") {
        if (!expectArgs(1)) {
            return usage(stderr);
        }
        auto jid = accountJid(*config, args[1]);
        if (!jid) {
            return fail(jid.error());
        }
        if (auto ok = withDatabase(); !ok) {
            return fail(ok.error());
        }
        const std::string domain(jid->domain());
        const std::string user(jid->local());
        auto r = admin.call<void>([&](storage::AccountStore& s, auto done) {
            s.deleteAccount(domain, user, std::move(done));
        });
        if (!r) {
            return fail(jid->full() + ": " + describe(r.error()));
        }
        std::printf("deleted %s\n", jid->full().c_str());
        return 0;
    }
    if (command == "list-users") {
        if (!expectArgs(1)) {
            return usage(stderr);
        }
        auto domain = stanza::prepDomainpart(args[1]);
        if (!domain) {
            return fail("invalid domain '" + args[1] + "': " + domain.error().reason);
        }
        if (config->findHost(*domain) == nullptr) {
            return fail("'" + *domain + "' is not a host of this server");
        }
        if (auto ok = withDatabase(); !ok) {
            return fail(ok.error());
        }
        auto r = admin.call<std::vector<std::string>>(
            [&](storage::AccountStore& s, auto done) { s.listAccounts(*domain, std::move(done)); });
        if (!r) {
            return fail(describe(r.error()));
        }
        for (const auto& user : *r) {
            std::printf("%s@%s\n", user.c_str(), domain->c_str());
        }
        return 0;
    }
    std::fprintf(stderr, "corvidctl: unknown command '%s'\n", command.c_str());
    return usage(stderr);
}
