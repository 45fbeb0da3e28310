"""A private Prosody (Debian package) for federation tests: its own config, data, log and pid file
under a temp dir, listening on its own loopback address, trusting the test CA."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from corvid_harness import wait_for_log
from federation.pki import Identity
from federation.requirements import prosody_problems, require

BAD_PROSODY_LINE = re.compile(r"\t(error)\t")


def _lua(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "{ " + "; ".join(_lua(v) for v in value) + " }"
    if isinstance(value, dict):
        return "{ " + "; ".join(f"{k} = {_lua(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no Lua form for {value!r}")


class ProsodyServer:
    """prosody --config <private config>; runs as root only because run_as_root = true says so
    (Prosody refuses otherwise, see util/startup.lua)."""

    START_TIMEOUT = 30.0
    STOP_TIMEOUT = 10.0

    def __init__(self, workdir: Path, *, domain: str, ip: str, c2s_port: int, identity: Identity,
                 ca_file: Path, resolv_conf: Path, direct_tls_port: Optional[int] = None,
                 s2s_secure_auth: bool = True,
                 dialback: bool = True, extra: Optional[dict] = None) -> None:
        self.workdir = workdir
        self.domain = domain
        self.ip = ip
        self.c2s_port = c2s_port
        self.identity = identity
        self.ca_file = ca_file
        self.resolv_conf = resolv_conf
        self.direct_tls_port = direct_tls_port
        self.s2s_secure_auth = s2s_secure_auth
        self.dialback = dialback
        self.extra = extra or {}
        self.config_path = workdir / "prosody.cfg.lua"
        self.log_path = workdir / "prosody.log"
        self.proc: Optional[subprocess.Popen] = None

    def write_config(self) -> None:
        data = self.workdir / "data"
        certs = self.workdir / "certs"
        data.mkdir(parents=True, exist_ok=True)
        certs.mkdir(exist_ok=True)
        modules = ["roster", "saslauth", "tls", "disco", "ping", "offline", "presence", "posix"]
        if self.dialback:
            modules.append("dialback")
        settings = {
            "run_as_root": True,
            "daemonize": False,
            "pidfile": str(self.workdir / "prosody.pid"),
            "data_path": str(data),
            "certificates": str(certs),
            "interfaces": [self.ip],
            "c2s_ports": [self.c2s_port],
            "s2s_ports": [5269],
            "modules_enabled": modules,
            "authentication": "internal_plain",
            "storage": "internal",
            "c2s_require_encryption": True,
            "s2s_require_encryption": True,
            "s2s_secure_auth": self.s2s_secure_auth,
            "s2s_timeout": 20,
            # Names come from the test's DNS server (libunbound), never from /etc/hosts.
            "unbound": {"resolvconf": str(self.resolv_conf), "hoststxt": False},
            "ssl": {"certificate": str(self.identity.chain), "key": str(self.identity.key),
                    "cafile": str(self.ca_file)},
            **self.extra,
        }
        if self.direct_tls_port:
            settings["s2s_direct_tls_ports"] = [self.direct_tls_port]
        lines = [f"{k} = {_lua(v)}" for k, v in settings.items()]
        lines.append('log = { { levels = { min = "debug" }, to = "file", '
                     f'filename = {_lua(str(self.log_path))} }} }}')
        lines.append(f"VirtualHost {_lua(self.domain)}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> "ProsodyServer":
        require(prosody_problems())  # e.g. lua-unbound, without which it cannot resolve names
        self.write_config()
        self.out = open(self.workdir / "prosody.out", "ab")
        self.proc = subprocess.Popen(["prosody", "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True)
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited with {self.proc.returncode}:\n"
                                   f"{self.log()[-3000:]}")
            if self._listening():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prosody not ready in {self.START_TIMEOUT} s:\n"
                                   f"{self.log()[-3000:]}")
            time.sleep(0.1)

    def _listening(self) -> bool:
        import socket
        for port in (self.c2s_port, 5269):
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex((self.ip, port)) != 0:
                    return False
        return True

    def add_user(self, user: str, password: str) -> None:
        r = subprocess.run(["prosodyctl", "--config", str(self.config_path), "register", user,
                            self.domain, password], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"prosodyctl register {user} failed: {r.stderr}{r.stdout}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.out.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        return wait_for_log(self.log, pattern, timeout, "prosody", 0.1)
