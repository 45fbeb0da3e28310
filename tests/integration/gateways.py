"""A real XMPP-IRC gateway for the tests: Debian's biboumi (an XEP-0114 component) connected to
corvid, and Debian's ngircd as the IRC server, both on 127.0.0.1, their files in a temporary
directory; and a raw-socket IRC client. Every wait has a deadline."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise AssertionError(f"{binary} not found: the gateway tests need the Debian package "
                             f"{package} (scripts/deps.sh installs it)")
    return path


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _Process:
    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.proc: Optional[subprocess.Popen] = None

    def _spawn(self, argv: list[str]) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 f"{self.log()[-3000:]}")

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


class Ngircd(_Process):
    """ngircd in the foreground on 127.0.0.1: no DNS, ident or PAM look-ups."""

    def __init__(self, workdir: Path, channel: str = "#corvid") -> None:
        super().__init__("ngircd", workdir)
        self.binary = _need("ngircd", "ngircd")
        self.port = free_tcp_port()
        self.channel = channel

    def start(self, timeout: float = 10.0) -> "Ngircd":
        conf = self.workdir / "ngircd.conf"
        conf.write_text("\n".join([
            "[Global]",
            "Name = irc.corvid.test",
            "Info = corvid test IRC server",
            "AdminInfo1 = corvid tests",
            "AdminInfo2 = loopback only",
            "AdminEMail = nobody@localhost",
            "Listen = 127.0.0.1",
            f"Ports = {self.port}",
            f"PidFile = {self.workdir / 'ngircd.pid'}",
            "MotdPhrase = \"corvid test\"",
            "[Limits]",
            "MaxConnectionsIP = 20",
            "[Options]",
            "DNS = no",
            "Ident = no",
            "PAM = no",
            "[Channel]",
            f"Name = {self.channel}",
            "Topic = a channel for corvid's tests",
            "",
        ]))
        self._spawn([self.binary, "--nodaemon", "--config", str(conf)])
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"ngircd does not listen within {timeout} s:\n"
                                         f"{self.log()[-3000:]}")
                time.sleep(0.1)


class Biboumi(_Process):
    """biboumi connected to corvid's component port, with an SQLite database of its own (for the
    per-user IRC server settings), no identd."""

    def __init__(self, workdir: Path, *, domain: str, secret: str, component_port: int) -> None:
        super().__init__("biboumi", workdir)
        self.binary = _need("biboumi", "biboumi")
        self.domain = domain
        self.secret = secret
        self.component_port = component_port

    def start(self) -> "Biboumi":
        conf = self.workdir / "biboumi.cfg"
        conf.write_text("\n".join([
            f"hostname={self.domain}",
            f"password={self.secret}",
            "xmpp_server_ip=127.0.0.1",
            f"port={self.component_port}",
            f"db_name={self.workdir / 'biboumi.sqlite'}",
            "identd_port=0",
            f"policy_directory={self.workdir}",
            "realname_customization=true",
            "log_level=0",
            "",
        ]))
        conf.chmod(0o600)
        self._spawn([self.binary, str(conf)])
        return self


class IrcClient:
    """A minimal IRC client over a raw socket: register, join, send, and wait for lines."""

    def __init__(self, port: int, nick: str, timeout: float = 10.0) -> None:
        self.nick = nick
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.lines: list[str] = []  # everything received, for failure messages
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :corvid test user")
        self.wait(lambda line: line.split(" ")[1:2] == ["001"], "the welcome (001)")

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def wait(self, pred, what: str, timeout: Optional[float] = None) -> str:
        """The next line matching `pred` (PINGs are answered on the way)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                    continue
                if pred(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"IRC {self.nick}: no {what} in time; received:\n" +
                                     "\n".join(self.lines[-30:]))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise AssertionError(f"IRC {self.nick}: connection closed waiting for {what}")
            self.buffer += data

    def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        self.wait(lambda line: line.startswith(f":{self.nick}!") and " JOIN " in line,
                  f"our JOIN of {channel}")

    def close(self) -> None:
        try:
            self.send("QUIT :bye")
        except OSError:
            pass
        self.sock.close()
