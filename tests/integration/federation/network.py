"""The test federation: a block of loopback addresses, a DNS server, a CA, and a corvid able to
federate (a CorvidServer with s2s listeners and a DNS server of its own)."""

from __future__ import annotations

import os
import random
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from corvid_harness import CorvidServer
from federation.fake_dns import FakeDns, Zone
from federation.hosts import EtcHosts
from federation.pki import Identity, PrivateCA


def _can_bind(ip: str, port: int, kind=socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((ip, port))
            return True
        except OSError:
            return False


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


@dataclass
class FederationNet:
    """127.N.0.1 DNS, .2 corvid, .3 Prosody, .4 ejabberd, .5-.9 other peers; random N so that
    parallel runs do not meet. Domains carry a random tag for the same reason."""

    base: str
    tag: str
    workdir: Path
    ca: PrivateCA
    dns: FakeDns
    zone: Zone
    identities: dict[str, Identity] = field(default_factory=dict)
    etc_hosts: EtcHosts = field(default_factory=EtcHosts)

    def ip(self, host: int) -> str:
        return f"{self.base}.{host}"

    def domain(self, name: str) -> str:
        # Not .test: libunbound (Prosody) answers NXDOMAIN for it locally (RFC 6761 zones).
        return f"{name}-{self.tag}.fedtest"

    def identity(self, domain: str) -> Identity:
        if domain not in self.identities:
            # No xmppAddr: ejabberd 23.01 crashes on it (xmpp_stream_pkix:get_cert_domains).
            self.identities[domain] = self.ca.issue(domain, xmpp_addr=False)
        return self.identities[domain]

    def resolv_conf(self) -> Path:
        path = self.workdir / "resolv.conf"
        path.write_text(f"nameserver {self.dns.ip}\n")
        return path

    @classmethod
    def create(cls, workdir: Path) -> "FederationNet":
        for _ in range(50):
            n = random.randint(16, 250)
            base = f"127.{n}.0"
            if _can_bind(f"{base}.1", 53, socket.SOCK_DGRAM) and all(
                    _can_bind(f"{base}.{h}", 5269) for h in range(2, 10)):
                break
        else:
            raise RuntimeError("no free 127.N.0.0/24 block")
        zone = Zone()
        dns = FakeDns(f"{base}.1", 53, zone).start()
        ca_dir = workdir / "ca"
        ca = PrivateCA(ca_dir)
        os.chmod(workdir, 0o755)
        os.chmod(ca_dir, 0o755)
        return cls(base, secrets.token_hex(3), workdir, ca, dns, zone)

    def close(self) -> None:
        self.etc_hosts.clear()
        self.dns.stop()


class FederatedCorvid(CorvidServer):
    """A corvid serving `domain` with s2s listeners (STARTTLS and direct TLS) on its own address,
    looking names up with the test DNS server. Every peer of the test federation is on loopback,
    so s2s.allow_private_addresses is on unless the overrides say otherwise."""

    def __init__(self, *, domain: str, s2s_ip: str, identity: Identity, ca_file: Path | None,
                 dns_server: str, **kw) -> None:
        self.domain = domain
        self.s2s_ip = s2s_ip
        self.s2s_port = free_port(s2s_ip)
        self.s2s_tls_port = free_port(s2s_ip)
        self.dns_server = dns_server
        overrides = kw.pop("overrides", None) or {}
        s2s = {"enabled": True, "connect_timeout_s": 8, "allow_private_addresses": True}
        if ca_file is not None:
            s2s["ca_file"] = str(ca_file)
        base = {
            "hosts": [{"domain": domain, "certificate": str(identity.chain),
                       "key": str(identity.key)}],
            "s2s": s2s,
        }
        from corvid_harness import deep_merge
        # Names are looked up with the test's DNS server (c-ares reads /etc/hosts first).
        env = dict(kw.pop("env", None) or {}, CORVID_DNS_SERVERS=dns_server)
        super().__init__(cert=identity.chain, key=identity.key,
                         overrides=deep_merge(base, overrides), env=env, **kw)

    def config(self) -> dict:
        c = super().config()
        # The harness writes nested tables with bare dotted keys; routes are keyed by domains,
        # which need quotes: write_config() adds them itself.
        c.get("s2s", {}).pop("routes", None)
        c["listeners"] = list(c["listeners"]) + [
            {"type": "s2s", "address": self.s2s_ip, "port": self.s2s_port},
            {"type": "s2s_direct_tls", "address": self.s2s_ip, "port": self.s2s_tls_port},
        ]
        return c

    def write_config(self) -> None:
        super().write_config()
        routes = self.overrides.get("s2s", {}).get("routes", {})
        if routes:
            lines = [f'"{domain}" = "{target}"' for domain, target in routes.items()]
            with open(self.config_path, "a") as f:
                f.write("\n[s2s.routes]\n" + "\n".join(lines) + "\n")

    def publish(self, net: FederationNet) -> None:
        """Puts this server in the test DNS: A for the domain, and SRV records for both s2s
        listeners (direct TLS preferred, XEP-0368)."""
        net.zone.a[self.domain] = [self.s2s_ip]
        # ejabberd looks SRV targets up with the system resolver (native lookup: /etc/hosts),
        # whatever its inetrc says.
        net.etc_hosts.add(self.s2s_ip, self.domain)
        net.zone.srv[f"_xmpps-server._tcp.{self.domain}"] = [
            (0, 0, self.s2s_tls_port, self.domain)]
        net.zone.srv[f"_xmpp-server._tcp.{self.domain}"] = [(10, 0, self.s2s_port, self.domain)]
