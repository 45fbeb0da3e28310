"""The configuration file as an administrator meets it: `corvid --check-config` and the daemon
warn when others than its owner may read or write it, and keys of features that are not built
yet are refused with their place in the file."""

from __future__ import annotations

import re
import subprocess


def check_config(server) -> subprocess.CompletedProcess:
    return subprocess.run([server.corvid_bin, "--check-config", str(server.config_path)],
                          capture_output=True, text=True, timeout=30)


def unstarted(server_factory):
    """A server whose config is written but which does not run."""
    s = server_factory(start=False)
    s.port, s.tls_port = 1, 2
    s.write_config()
    return s


def test_check_config_warns_when_others_may_read_or_write_the_file(server_factory):
    s = unstarted(server_factory)
    r = check_config(s)
    assert (r.returncode, r.stdout, r.stderr) == (0, "ok\n", ""), "mode 600 needs no warning"
    for mode, exposure in [(0o644, "readable by group and others"),
                           (0o640, "readable by group"),
                           (0o602, "writable by others")]:
        s.config_path.chmod(mode)
        r = check_config(s)
        # Still valid: a warning, not an error.
        assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
        assert r.stderr == (f"warning: {s.config_path} is {exposure} (mode {mode:04o}), but it "
                            "holds the database DSN and may hold secrets: make it mode 600, owned "
                            "by the user corvid runs as\n")


def test_daemon_logs_a_warning_at_start_for_a_readable_config(server_factory):
    exposed = server_factory(start=False)
    exposed.config_mode = 0o640
    exposed.start()
    exposed.wait_log(r"warning \S+corvid\.toml is readable by group \(mode 0640\), but it holds "
                     r"the database DSN")
    private = server_factory()
    assert "holds the database DSN" not in private.log()


def test_keys_of_features_not_built_are_refused_with_their_place(server_factory):
    s = unstarted(server_factory)
    text = s.config_path.read_text()
    first = text.count("\n") + 1
    s.config_path.write_text(text + "[modules.carbons]\nenabled = true\n"
                             "[modules.push]\nenabled = false\n")
    r = check_config(s)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    see = '(see "Not yet available" in docs/configuration.md)'
    assert r.stderr.splitlines() == [
        f"{s.config_path}:{first}:10: modules.carbons: not available in this version {see}",
        f"{s.config_path}:{first + 2}:10: modules.push: not available in this version {see}",
    ], r.stderr
    # The daemon refuses to start on it, with the same messages.
    d = subprocess.run([s.corvid_bin, "--config", str(s.config_path)], capture_output=True,
                       text=True, timeout=30)
    assert d.returncode == 1 and re.search(r":10: modules\.carbons: not available", d.stderr), d.stderr
