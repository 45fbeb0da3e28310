"""A private ejabberd (Debian package) for federation tests: its own config dir, spool, logs,
Erlang node name and cookie, no epmd (a fixed distribution port), started in the foreground as
the ejabberd user and stopped with SIGTERM."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from corvid_harness import wait_for_log
from federation.pki import Identity
from federation.requirements import ejabberd_problems, require
from xmpp_raw import RawClient, to_str


def _yaml(value, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return " {}"
        out = ""
        for k, v in value.items():
            out += f"\n{pad}{k}:" + _yaml(v, indent + 1)
        return out
    if isinstance(value, list):
        if not value:
            return " []"
        out = ""
        for v in value:
            if isinstance(v, dict):
                body = _yaml(v, indent + 1).lstrip("\n")
                out += f"\n{pad}-\n{body}" if body else f"\n{pad}- {{}}"
            else:
                out += f"\n{pad}- {_scalar(v)}"
        return out
    return " " + _scalar(value)


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EjabberdServer:
    START_TIMEOUT = 60.0
    STOP_TIMEOUT = 15.0
    USER = "ejabberd"

    def __init__(self, workdir: Path, *, domain: str, ip: str, c2s_port: int, identity: Identity,
                 ca_file: Path, dns_server: tuple[str, int], dialback: bool = True) -> None:
        self.workdir = workdir
        self.domain = domain
        self.ip = ip
        self.c2s_port = c2s_port
        self.identity = identity
        self.ca_file = ca_file
        self.dns_server = dns_server  # the only nameserver of the Erlang resolver (inetrc)
        self.dialback = dialback
        self.node = f"corvidit_{secrets.token_hex(4)}@localhost"
        self.cookie = secrets.token_hex(16)
        self.log_path = workdir / "logs" / "ejabberd.log"
        self.proc: Optional[subprocess.Popen] = None

    def write_config(self) -> None:
        for sub in ("spool", "logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        # The VM runs as the ejabberd user: its files live where that user can read them.
        certfile = self.workdir / "cert.pem"
        shutil.copyfile(self.identity.combined, certfile)
        cafile = self.workdir / "ca.pem"
        shutil.copyfile(self.ca_file, cafile)
        modules = {"mod_disco": {}, "mod_offline": {}, "mod_ping": {}, "mod_roster": {},
                   "mod_presence": None, "mod_register": {"ip_access": "all", "access": "all",
                                                           "welcome_message": {}}}
        modules.pop("mod_presence")
        if self.dialback:
            modules["mod_s2s_dialback"] = {}
        config = {
            "hosts": [self.domain],
            "loglevel": "debug",
            "log_rotate_count": 0,
            "certfiles": [str(certfile)],
            "ca_file": str(cafile),
            "listen": [
                {"port": self.c2s_port, "ip": self.ip, "module": "ejabberd_c2s",
                 "starttls_required": True},
                {"port": 5269, "ip": self.ip, "module": "ejabberd_s2s_in"},
            ],
            "s2s_use_starttls": "required",
            "s2s_timeout": 20,
            "auth_method": "internal",
            "auth_password_format": "plain",
            "registration_timeout": "infinity",
            "acl": {"local": {"user_regexp": ""}},
            "access_rules": {"local": {"allow": "local"}, "c2s": {"allow": "all"},
                             "s2s": {"allow": "all"}},
            "modules": modules,
        }
        (self.workdir / "ejabberd.yml").write_text(_yaml(config).lstrip("\n") + "\n")
        dist_port = _free_port()
        (self.workdir / "ejabberdctl.cfg").write_text(
            f"ERLANG_NODE={self.node}\n"
            f'ERL_OPTIONS="-setcookie {self.cookie}"\n'
            f"INET_DIST_INTERFACE=127.0.0.1\n"
            f"ERL_DIST_PORT={dist_port}\n")
        # ejabberd resolves with inet_res (DNS only): the test's DNS server, nothing else
        # (ejabberdctl points ERL_INETRC here).
        ip, port = self.dns_server
        (self.workdir / "inetrc").write_text(
            # resolv_conf first: setting it clears the nameservers given before it.
            '{resolv_conf, ""}.\n{hosts_file, ""}.\n'
            f"{{nameserver, {{{ip.replace('.', ',')}}}, {port}}}.\n"
            "{lookup, [dns]}.\n")
        uid = pwd.getpwnam(self.USER).pw_uid
        for root, dirs, files in os.walk(self.workdir):
            os.chown(root, uid, -1)
            for f in files:
                os.chown(os.path.join(root, f), uid, -1)

    def start(self) -> "EjabberdServer":
        require(ejabberd_problems(user=self.USER))
        self.write_config()
        self.out = open(self.workdir / "ejabberd.out", "ab")
        user = pwd.getpwnam(self.USER)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.workdir),
               "LANG": "C.UTF-8"}
        # As the ejabberd user itself, so that ejabberdctl runs erl directly (no su between us
        # and the VM: SIGTERM to the process group reaches it).
        self.proc = subprocess.Popen(
            ["ejabberdctl", "--config-dir", str(self.workdir), "--config",
             str(self.workdir / "ejabberd.yml"), "--spool", str(self.workdir / "spool"),
             "--logs", str(self.workdir / "logs"), "foreground"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT,
            cwd=self.workdir, env=env, user=user.pw_uid, group=user.pw_gid,
            start_new_session=True)
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ejabberd exited with {self.proc.returncode}:\n"
                                   f"{self.output()[-3000:]}")
            if re.search(r"Start accepting TCP connections at .*:5269", self.log()):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ejabberd not ready in {self.START_TIMEOUT} s:\n"
                                   f"{self.output()[-3000:]}")
            time.sleep(0.2)

    def add_user(self, user: str, password: str) -> None:
        """In-band registration (XEP-0077): an ejabberdctl call would start a whole Erlang VM."""
        c = RawClient(self.c2s_port, host=self.ip, timeout=15)
        try:
            c.domain = self.domain
            c.open_stream(to=self.domain)
            c.starttls()
            c.send(f"<iq type='set' id='reg1'><query xmlns='jabber:iq:register'>"
                   f"<username>{user}</username><password>{password}</password></query></iq>")
            reply = c.wait_for(lambda e: e.get("id") == "reg1", what="registration answer")
            if reply.get("type") != "result":
                raise RuntimeError(f"registering {user}@{self.domain} failed: {to_str(reply)}")
        finally:
            c.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the VM stops cleanly on SIGTERM
            self.proc.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass
        self.out.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        try:
            return (self.workdir / "ejabberd.out").read_text(errors="replace") + self.log()
        except FileNotFoundError:
            return self.log()

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        return wait_for_log(self.log, pattern, timeout, "ejabberd", 0.1)
