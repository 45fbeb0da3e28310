"""corvidctl adduser / passwd as an administrator uses them: the password typed at a prompt
without echo (a real terminal: a pty), piped on standard input, or read from --password-file;
never taken from the command line, where the process list and the shell history would show it."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import time

from xmpp_raw import NS_SASL, RawClient, q


def ctl(server, *args, input=None) -> subprocess.CompletedProcess:
    return subprocess.run([server.corvidctl_bin, "--config", str(server.config_path), *args],
                          input=input, capture_output=True, text=True, timeout=30)


def accounts(server) -> list[str]:
    return ctl(server, "list-users", "localhost").stdout.split()


def logs_in(server, user: str, password: str) -> bool:
    c = RawClient(server.port)
    try:
        c.negotiate_tls()
        return c.auth_plain(user, password).tag == q(NS_SASL, "success")
    finally:
        c.close()


class Terminal:
    """corvidctl with a pty as its standard input and error (what an interactive shell gives it)
    and a pipe as its standard output."""

    def __init__(self, server, *args) -> None:
        self.master, self.slave = pty.openpty()
        self.proc = subprocess.Popen(
            [server.corvidctl_bin, "--config", str(server.config_path), *args],
            stdin=self.slave, stdout=subprocess.PIPE, stderr=self.slave, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        self.screen = ""  # everything the terminal showed

    def wait_for(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} on the terminal; it shows {self.screen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.screen += os.read(self.master, 4096).decode(errors="replace")

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def finish(self) -> tuple[int, str]:
        """Exit status and standard output; reads what is left on the terminal."""
        out, _ = self.proc.communicate(timeout=30)
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.screen += chunk.decode(errors="replace")
        return self.proc.returncode, out.decode()

    def echo_is_on(self) -> bool:
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)
        os.close(self.slave)


def test_adduser_and_passwd_read_one_line_of_standard_input(server):
    r = ctl(server, "adduser", "alice@localhost", input="first secret\nnot this line\n")
    assert (r.returncode, r.stdout) == (0, "created alice@localhost\n"), r.stderr
    assert logs_in(server, "alice", "first secret")
    r = ctl(server, "passwd", "alice@localhost", input="second secret")  # no newline at the end
    assert (r.returncode, r.stdout) == (0, "password changed for alice@localhost\n"), r.stderr
    assert logs_in(server, "alice", "second secret")
    assert not logs_in(server, "alice", "first secret")
    # Nothing on standard input, or an empty line: refused, nothing changed.
    for given in ["", "\n"]:
        r = ctl(server, "passwd", "alice@localhost", input=given)
        assert r.returncode == 1, r
    assert "no password on standard input" in ctl(server, "adduser", "bob@localhost",
                                                  input="").stderr
    assert "the password is empty" in ctl(server, "adduser", "bob@localhost", input="\n").stderr
    assert accounts(server) == ["alice@localhost"]
    assert logs_in(server, "alice", "second secret")


def test_password_file(server, tmp_path):
    f = tmp_path / "pw"
    f.write_text("from a file\nsecond line is ignored\n")
    f.chmod(0o600)
    r = ctl(server, "adduser", "carol@localhost", "--password-file", str(f))
    assert (r.returncode, r.stdout) == (0, "created carol@localhost\n"), r.stderr
    # Standard input is not read when a file is given.
    f.write_text("changed by file")
    r = ctl(server, "--password-file", str(f), "passwd", "carol@localhost", input="ignored\n")
    assert r.returncode == 0, r.stderr
    assert logs_in(server, "carol", "changed by file")

    r = ctl(server, "passwd", "carol@localhost", "--password-file", str(tmp_path / "missing"))
    assert r.returncode == 1
    assert f"cannot read the password file {tmp_path / 'missing'}: No such file" in r.stderr
    (tmp_path / "empty").write_text("")
    r = ctl(server, "passwd", "carol@localhost", "--password-file", str(tmp_path / "empty"))
    assert r.returncode == 1 and "is empty" in r.stderr, r.stderr
    r = ctl(server, "deluser", "carol@localhost", "--password-file", str(f))
    assert r.returncode == 2 and "for adduser and passwd only" in r.stderr, r.stderr
    assert logs_in(server, "carol", "changed by file")


def test_a_password_on_the_command_line_is_refused(server):
    r = ctl(server, "adduser", "dave@localhost", "hunter2", input="hunter2\n")
    assert r.returncode == 2
    assert r.stderr == ("corvidctl: adduser does not take the password as an argument (the "
                        "process list and the shell history would show it): type it at the "
                        "prompt, give it as one line on standard input, or use --password-file "
                        "FILE\n")
    r = ctl(server, "adduser", "dave@localhost", "-", input="hunter2\n")
    assert r.returncode == 2 and "leave out the '-'" in r.stderr, r.stderr
    assert accounts(server) == []
    ctl(server, "adduser", "dave@localhost", input="old\n")
    r = ctl(server, "passwd", "dave@localhost", "new", input="new\n")
    assert r.returncode == 2 and "passwd does not take the password" in r.stderr, r.stderr
    assert logs_in(server, "dave", "old")


def test_prompt_on_a_terminal_asks_twice_without_echo(server):
    t = Terminal(server, "adduser", "erin@localhost")
    try:
        t.wait_for("Password for erin@localhost: ")
        assert not t.echo_is_on()
        t.type("typed at the prompt\n")
        t.wait_for("Password for erin@localhost (again): ")
        t.type("typed at the prompt\n")
        rc, out = t.finish()
        assert (rc, out) == (0, "created erin@localhost\n"), t.screen
        assert "typed at the prompt" not in t.screen, "the password was echoed"
        assert t.echo_is_on(), "echo was not turned back on"
    finally:
        t.close()
    assert logs_in(server, "erin", "typed at the prompt")


def test_prompt_with_a_different_confirmation_changes_nothing(server):
    server.add_user("frank@localhost", "unchanged")
    t = Terminal(server, "passwd", "frank@localhost")
    try:
        t.wait_for("Password for frank@localhost: ")
        t.type("one password\n")
        t.wait_for("(again): ")
        t.type("another one\n")
        rc, out = t.finish()
        assert (rc, out) == (1, ""), t.screen
        assert "corvidctl: the two passwords differ; nothing was changed" in t.screen
        assert t.echo_is_on()
    finally:
        t.close()
    assert logs_in(server, "frank", "unchanged")


def test_ctrl_c_at_the_prompt_turns_echo_back_on(server):
    t = Terminal(server, "adduser", "gina@localhost")
    try:
        t.wait_for("Password for gina@localhost: ")
        assert not t.echo_is_on()
        t.type("\x03")  # the terminal sends SIGINT
        rc, _ = t.finish()
        assert rc == -signal.SIGINT
        assert t.echo_is_on(), "Ctrl-C left the terminal without echo"
    finally:
        t.close()
    assert accounts(server) == []
