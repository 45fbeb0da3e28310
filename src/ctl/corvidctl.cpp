// corvidctl: account administration on the daemon's own database.
//
//   corvidctl [--config FILE] adduser JID [--password-file FILE]
//   corvidctl [--config FILE] deluser JID
//   corvidctl [--config FILE] passwd JID [--password-file FILE]
//   corvidctl [--config FILE] list-users DOMAIN
//
// Passwords never come from the command line, where the process list and the shell history would
// show them: they are typed at a prompt without echo (twice) when standard input is a terminal,
// read from the first line of standard input otherwise, or from the first line of FILE.

#include <event2/event.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
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
        "  adduser JID [--password-file FILE]   create an account\n"
        "  deluser JID                          delete an account and everything stored for it\n"
        "  passwd JID [--password-file FILE]    set a new password\n"
        "  list-users DOMAIN                    list the accounts of a host\n"
        "The password is asked for twice, without echo, when standard input is a terminal;\n"
        "otherwise it is the first line of standard input, or of FILE with --password-file.\n",
        out);
    return out == stdout ? 0 : 2;
}

// ------------------------------------------------------------------------- reading passwords

// The terminal settings to put back if a signal ends the process while echo is off. Global
// because a signal handler can reach nothing else; written before the handlers are installed.
termios gSavedTerminal;

void restoreTerminalAndDie(int sig) {
    tcsetattr(STDIN_FILENO, TCSANOW, &gSavedTerminal);  // async-signal-safe
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

constexpr int kFatalSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/// Turns echo off on the terminal that is standard input for its lifetime; also when a signal
/// ends the process meanwhile (Ctrl-C at the prompt must not leave the terminal mute).
class EchoOff {
  public:
    EchoOff() {
        if (tcgetattr(STDIN_FILENO, &gSavedTerminal) != 0) {
            return;
        }
        for (int sig : kFatalSignals) {
            std::signal(sig, restoreTerminalAndDie);
        }
        termios quiet = gSavedTerminal;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        active_ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    ~EchoOff() {
        if (active_) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &gSavedTerminal);
        }
        for (int sig : kFatalSignals) {
            std::signal(sig, SIG_DFL);
        }
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

    bool active() const { return active_; }

  private:
    bool active_ = false;
};

/// One line typed after `prompt` (on stderr); the Enter key, not echoed, is echoed here.
std::optional<std::string> promptLine(const std::string& prompt) {
    std::fputs(prompt.c_str(), stderr);
    std::fflush(stderr);
    std::string line;
    const bool got = static_cast<bool>(std::getline(std::cin, line));
    std::fputs("\n", stderr);
    return got ? std::optional<std::string>(std::move(line)) : std::nullopt;
}

std::expected<std::string, std::string> passwordFromTerminal(const std::string& jid) {
    EchoOff echoOff;
    if (!echoOff.active()) {
        return std::unexpected("cannot turn off echo on the terminal: " +
                               std::string(std::strerror(errno)));
    }
    auto first = promptLine("Password for " + jid + ": ");
    if (!first) {
        return std::unexpected("no password typed");
    }
    if (first->empty()) {
        return std::unexpected("the password is empty");
    }
    auto again = promptLine("Password for " + jid + " (again): ");
    if (!again || *again != *first) {
        return std::unexpected("the two passwords differ; nothing was changed");
    }
    return std::move(*first);
}

/// The password for `jid`: from `passwordFile`'s first line if given, else typed at a prompt if
/// standard input is a terminal, else standard input's first line.
std::expected<std::string, std::string> readPassword(
    const std::string& jid, const std::optional<std::string>& passwordFile) {
    std::string line;
    if (passwordFile) {
        std::ifstream in(*passwordFile);
        if (!in) {
            return std::unexpected("cannot read the password file " + *passwordFile + ": " +
                                   std::strerror(errno));
        }
        if (!std::getline(in, line)) {
            return std::unexpected("the password file " + *passwordFile + " is empty");
        }
        return line;
    }
    if (isatty(STDIN_FILENO) == 1) {
        return passwordFromTerminal(jid);
    }
    if (!std::getline(std::cin, line)) {
        return std::unexpected("no password on standard input (one line is expected)");
    }
    return line;
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
                                                                     const std::string& password) {
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
    std::optional<std::string> passwordFile;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
            configPath = argv[++i];
        } else if (arg == "--password-file" && i + 1 < argc) {
            passwordFile = argv[++i];
        } else if (arg == "--help" || arg == "-h") {
            return usage(stdout);
        } else {
            args.push_back(arg);
        }
    }
    if (args.empty()) {
        return usage(stderr);
    }
    const std::string& command = args[0];
    const bool setsPassword = command == "adduser" || command == "passwd";
    if (setsPassword && args.size() == 3) {
        if (args[2] == "-") {
            std::fprintf(stderr,
                         "corvidctl: leave out the '-': %s reads the password from standard input "
                         "whenever it is not a terminal\n",
                         command.c_str());
        } else {
            std::fprintf(stderr,
                         "corvidctl: %s does not take the password as an argument (the process "
                         "list and the shell history would show it): type it at the prompt, give "
                         "it as one line on standard input, or use --password-file FILE\n",
                         command.c_str());
        }
        return 2;
    }
    if (passwordFile && !setsPassword) {
        std::fprintf(stderr, "corvidctl: --password-file is for adduser and passwd only\n");
        return 2;
    }
    auto config = conf::loadConfigFile(configPath);
    if (!config) {
        for (const auto& error : config.error()) {
            std::fprintf(stderr, "%s\n", error.format().c_str());
        }
        return 1;
    }
    auto expectArgs = [&](std::size_t n) { return args.size() == n + 1; };

    Admin admin(*config);
    auto withDatabase = [&]() -> std::expected<void, std::string> { return admin.connect(); };

    if (setsPassword) {
        if (!expectArgs(1)) {
            return usage(stderr);
        }
        auto jid = accountJid(*config, args[1]);
        if (!jid) {
            return fail(jid.error());
        }
        auto password = readPassword(jid->full(), passwordFile);
        if (!password) {
            return fail(password.error());
        }
        auto creds = credentialsFor(*config, *password);
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
