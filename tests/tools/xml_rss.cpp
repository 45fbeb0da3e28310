// xml_rss: peak memory of xml::StreamParser under hostile input.
//
// For each case, a forked child feeds the input to a StreamParser (default limits unless the case
// says otherwise) and reports how the parser refused it; the parent takes the child's peak
// resident set size from wait4(). Each case runs twice:
//   4k    the input is generated 4 KiB at a time while it is fed, so the figure is the parser's
//         memory (plus the process baseline), not the input's;
//   whole the whole input is built in the child first and fed in one call, so the figure
//         INCLUDES the input buffer (10 MB inputs show up as 10 MB).
// Exits 1 if a case is not refused with the expected error, crashes, or peaks above the bound.
// A memory bound, not a timing test: nothing here depends on the machine's speed.
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "xml/stream_parser.h"

namespace {

using corvid::xml::Element;
using corvid::xml::ParseError;
using corvid::xml::ParseErrorKind;
using corvid::xml::StreamHandler;
using corvid::xml::StreamHeader;
using corvid::xml::StreamLimits;
using corvid::xml::StreamParser;

#if defined(__SANITIZE_ADDRESS__)
// ASan's shadow memory and quarantine inflate RSS many times over: report, do not judge.
constexpr bool kEnforceBound = false;
#else
constexpr bool kEnforceBound = true;
#endif

constexpr long kBoundKiB = 20 * 1024;  // 20 MiB of peak RSS per case
constexpr std::size_t kPiece = 4096;
constexpr std::size_t kMiB = 1024 * 1024;

const std::string kStream =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='localhost' version='1.0'>";

struct Case {
    std::string name;
    std::string prefix;
    std::function<void(std::size_t, std::string&)> unit;  // appends the i-th repeated unit
    std::size_t units;
    std::string suffix;
    ParseErrorKind expected;
    StreamLimits limits{};
};

/// What the child reports back through a pipe.
struct Outcome {
    bool refused = false;
    int kind = -1;
    unsigned long long fed = 0;
    unsigned long long elements = 0;
};

struct Handler : StreamHandler {
    Outcome* out = nullptr;
    void onStreamStart(StreamHeader&&) override {}
    void onElement(Element&&) override { ++out->elements; }
    void onStreamEnd() override {}
    void onParseError(const ParseError& e) override {
        out->refused = true;
        out->kind = static_cast<int>(e.kind);
    }
};

const char* kindName(int kind) {
    switch (kind) {
        case static_cast<int>(ParseErrorKind::NotWellFormed):
            return "NotWellFormed";
        case static_cast<int>(ParseErrorKind::RestrictedXml):
            return "RestrictedXml";
        case static_cast<int>(ParseErrorKind::UnsupportedEncoding):
            return "UnsupportedEncoding";
        case static_cast<int>(ParseErrorKind::InvalidNamespace):
            return "InvalidNamespace";
        case static_cast<int>(ParseErrorKind::StanzaTooLarge):
            return "StanzaTooLarge";
        case static_cast<int>(ParseErrorKind::TooDeep):
            return "TooDeep";
        case static_cast<int>(ParseErrorKind::TooManyAttributes):
            return "TooManyAttributes";
        default:
            return "not refused";
    }
}

Outcome feedCase(const Case& c, bool whole) {
    Outcome out;
    Handler h;
    h.out = &out;
    StreamParser parser(h, c.limits);
    if (whole) {
        // Size it first: growing the string by doubling would count a stale copy in the peak.
        std::size_t total = c.prefix.size() + c.suffix.size();
        std::string scratch;
        for (std::size_t i = 0; i < c.units; ++i) {
            scratch.clear();
            c.unit(i, scratch);
            total += scratch.size();
        }
        std::string input;
        input.reserve(total);
        input = c.prefix;
        for (std::size_t i = 0; i < c.units; ++i) {
            c.unit(i, input);
        }
        input += c.suffix;
        parser.feed(input);
        out.fed = input.size();
        return out;
    }
    std::string buffer = c.prefix;
    std::size_t next = 0;
    bool suffixAdded = false;
    while (!parser.failed()) {
        while (buffer.size() < kPiece && next < c.units) {
            c.unit(next++, buffer);
        }
        if (next == c.units && !suffixAdded) {
            buffer += c.suffix;
            suffixAdded = true;
        }
        if (buffer.empty()) {
            break;
        }
        const std::size_t n = std::min(buffer.size(), kPiece);
        parser.feed(std::string_view(buffer).substr(0, n));
        out.fed += n;
        buffer.erase(0, n);
    }
    return out;
}

[[noreturn]] void runChild(const Case& c, bool whole, int fd) {
    if (kEnforceBound) {
        // Keep a runaway case from taking the machine down with it.
        const rlimit cap{1024 * kMiB, 1024 * kMiB};
        setrlimit(RLIMIT_AS, &cap);
    }
    const Outcome out = feedCase(c, whole);
    const ssize_t n = write(fd, &out, sizeof out);
    _exit(n == static_cast<ssize_t>(sizeof out) ? 0 : 3);
}

struct Result {
    Outcome outcome;
    long peakKiB = 0;
    std::string failure;  // empty when the child ran to the end
};

Result runCase(const Case& c, bool whole) {
    Result r;
    int fds[2];
    if (pipe(fds) != 0) {
        std::perror("pipe");
        std::exit(2);
    }
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("fork");
        std::exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        runChild(c, whole, fds[1]);
    }
    close(fds[1]);
    const ssize_t got = read(fds[0], &r.outcome, sizeof r.outcome);
    close(fds[0]);
    int status = 0;
    rusage usage{};
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    r.peakKiB = usage.ru_maxrss;  // kilobytes on Linux
    if (WIFSIGNALED(status)) {
        r.failure = "killed by signal " + std::to_string(WTERMSIG(status)) +
                    (kEnforceBound ? " (over the 1 GiB address-space cap?)" : "");
    } else if (WEXITSTATUS(status) != 0 || got != static_cast<ssize_t>(sizeof r.outcome)) {
        r.failure = "child exited with status " + std::to_string(WEXITSTATUS(status));
    }
    return r;
}

std::string repeated(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out.append(s);
    }
    return out;
}

std::vector<Case> cases() {
    std::vector<Case> all;
    using Unit = std::function<void(std::size_t, std::string&)>;
    auto add = [&all](std::string name, std::string prefix, Unit unit, std::size_t units,
                      std::string suffix, ParseErrorKind expected, StreamLimits limits = {}) {
        all.push_back({std::move(name), std::move(prefix), std::move(unit), units,
                       std::move(suffix), expected, limits});
    };
    auto constant = [](std::string s) -> Unit {
        return [s = std::move(s)](std::size_t, std::string& out) { out.append(s); };
    };
    const std::size_t tenMiB = 10 * kMiB / kPiece;  // units of 4 KiB
    const std::string page(kPiece, 'a');

    add("10 MB text node", kStream + "<message><body>", constant(page), tenMiB, "</body></message>",
        ParseErrorKind::StanzaTooLarge);
    add("10 MB attribute, no closing quote", kStream + "<message to='", constant(page), tenMiB, "",
        ParseErrorKind::StanzaTooLarge);
    add("10 MB attribute in the stream header",
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='", constant(page),
        tenMiB, "", ParseErrorKind::StanzaTooLarge);
    add("100,000-deep nesting", kStream, constant("<a>"), 100000, "", ParseErrorKind::TooDeep);
    add(
        "10,000 attributes", kStream + "<message",
        [](std::size_t i, std::string& out) { out += " a" + std::to_string(i) + "=''"; }, 10000,
        "/>", ParseErrorKind::TooManyAttributes);
    std::string laughs = "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY l0 'lol'>";
    for (int i = 1; i <= 9; ++i) {
        laughs += "<!ENTITY l" + std::to_string(i) + " '" +
                  repeated("&l" + std::to_string(i - 1) + ";", 10) + "'>";
    }
    laughs += "]>" + kStream + "<message><body>";
    add("billion laughs", laughs, constant("&l9;"), 1000, "</body></message>",
        ParseErrorKind::RestrictedXml);
    add("external entity (file:///etc/passwd)",
        "<!DOCTYPE stream:stream [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" + kStream +
            "<message><body>",
        constant("&x;"), 1000, "</body></message>", ParseErrorKind::RestrictedXml);
    add("invalid UTF-8 after 200 KiB of text", kStream + "<message><body>", constant(page), 50,
        "\xC0\xAF</body></message>", ParseErrorKind::NotWellFormed);
    // Element-tree amplification: each child element costs far more memory than its 4 bytes of
    // input. With a long inherited namespace every child also holds its own copy of that
    // namespace, so the tree grows with (children x namespace length) until the byte limit.
    const std::string longNs = "urn:" + std::string(1024, 'n');
    add("65,000 empty children", kStream + "<message>", constant("<a/>"), 70000, "</message>",
        ParseErrorKind::StanzaTooLarge);
    add("children inheriting a 1 KiB namespace", kStream + "<message xmlns='" + longNs + "'>",
        constant("<a/>"), 70000, "</message>", ParseErrorKind::StanzaTooLarge);
    std::string manyAttrs = "<a";
    for (int k = 0; k < 60; ++k) {
        manyAttrs += " p:a" + std::to_string(k) + "=''";
    }
    manyAttrs += "/>";
    add("attributes in a 1 KiB namespace", kStream + "<message xmlns:p='" + longNs + "'>",
        constant(manyAttrs), 2000, "</message>", ParseErrorKind::StanzaTooLarge);
    StreamLimits preAuth;
    preAuth.maxStanzaBytes = 16 * 1024;
    add("pre-auth 16 KiB, 8 KiB namespace",
        kStream + "<message xmlns='urn:" + std::string(8192, 'n') + "'>", constant("<a/>"), 5000,
        "</message>", ParseErrorKind::StanzaTooLarge, preAuth);
    return all;
}

}  // namespace

int main() {
    // The baseline: a fork of this process that parses one ordinary stanza.
    Case baseline{"baseline",
                  kStream + "<message><body>hi</body></message>",
                  [](std::size_t, std::string&) {},
                  0,
                  "",
                  ParseErrorKind::NotWellFormed};
    const Result base = runCase(baseline, false);

    std::printf("xml_rss: peak RSS of a child process feeding hostile input to StreamParser\n");
    std::printf(
        "  limits: default (stanza %zu bytes, depth %zu, %zu attributes); bound %ld MiB%s\n",
        StreamLimits{}.maxStanzaBytes, StreamLimits{}.maxDepth, StreamLimits{}.maxAttributes,
        kBoundKiB / 1024,
        kEnforceBound ? "" : " NOT enforced (sanitizer build: RSS includes ASan overhead)");
    std::printf("  baseline (fork + one ordinary stanza): %.1f MiB\n", base.peakKiB / 1024.0);
    std::printf("  mode 4k: input generated and fed 4 KiB at a time (input buffer NOT counted)\n");
    std::printf(
        "  mode whole: input built first and fed in one call (input buffer IS counted)\n\n");
    std::printf("%-40s %-6s %-18s %-18s %10s %11s  %s\n", "case", "mode", "expected", "got",
                "fed KiB", "peak MiB", "verdict");

    int failures = 0;
    for (const Case& c : cases()) {
        for (const bool whole : {false, true}) {
            const Result r = runCase(c, whole);
            std::string verdict = "ok";
            if (!r.failure.empty()) {
                verdict = "FAIL: " + r.failure;
            } else if (!r.outcome.refused) {
                verdict = "FAIL: not refused";
            } else if (r.outcome.kind != static_cast<int>(c.expected)) {
                verdict = "FAIL: wrong error";
            } else if (r.outcome.elements != 0) {
                verdict = "FAIL: a stanza got through";
            } else if (kEnforceBound && r.peakKiB > kBoundKiB) {
                verdict = "FAIL: over " + std::to_string(kBoundKiB / 1024) + " MiB";
            }
            if (verdict != "ok") {
                ++failures;
            }
            std::printf("%-40s %-6s %-18s %-18s %10llu %11.1f  %s\n", c.name.c_str(),
                        whole ? "whole" : "4k", kindName(static_cast<int>(c.expected)),
                        r.failure.empty() ? kindName(r.outcome.refused ? r.outcome.kind : -1) : "-",
                        r.outcome.fed / 1024, r.peakKiB / 1024.0, verdict.c_str());
        }
    }
    std::printf("\nxml_rss: %d case(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}
