"""A private certificate authority (openssl CLI) issuing one certificate per XMPP domain."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")


@dataclass
class Identity:
    domain: str
    cert: Path      # leaf certificate (PEM)
    key: Path       # its key (PEM)
    chain: Path     # leaf + CA (PEM), for servers that want the full chain
    combined: Path  # leaf + key + CA in one file (ejabberd's certfiles)


class PrivateCA:
    """Makes a CA once; issue() signs certificates for domains (dNSName and xmppAddr SANs, both
    serverAuth and clientAuth, as an s2s certificate is used in both TLS roles)."""

    def __init__(self, directory: Path, name: str = "corvid federation test CA") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(self.key), "-out", str(self.cert), "-days", "30",
                 "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self._serial = 1

    def issue(self, domain: str, *, extra_dns: tuple[str, ...] = (), xmpp_addr: bool = True,
              days: int = 30) -> Identity:
        self._serial += 1
        def path(suffix: str) -> Path:
            return self.dir / f"{domain}{suffix}"

        key, csr, cert, ext = path(".key"), path(".csr"), path(".pem"), path(".ext")
        sans = [f"DNS:{domain}"] + [f"DNS:{d}" for d in extra_dns]
        if xmpp_addr:
            sans.append(f"otherName:1.3.6.1.5.5.7.8.5;UTF8:{domain}")
        ext.write_text("basicConstraints=CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n"
                       f"subjectAltName={','.join(sans)}\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={domain}", cwd=self.dir)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                 "-set_serial", str(self._serial), "-days", str(days), "-sha256",
                 "-extfile", str(ext), "-out", str(cert), cwd=self.dir)
        chain = path(".chain.pem")
        chain.write_text(cert.read_text() + self.cert.read_text())
        combined = path(".all.pem")
        combined.write_text(cert.read_text() + key.read_text() + self.cert.read_text())
        for p in (key, combined):
            p.chmod(0o644)  # the test servers run as their own users
        return Identity(domain, cert, key, chain, combined)

    def self_signed(self, domain: str) -> Identity:
        """A certificate for `domain` that this CA did not sign (untrusted everywhere)."""
        key, cert = self.dir / f"selfsigned-{domain}.key", self.dir / f"selfsigned-{domain}.pem"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", f"/CN={domain}",
                 "-addext", f"subjectAltName=DNS:{domain}", cwd=self.dir)
        chain = self.dir / f"selfsigned-{domain}.chain.pem"
        chain.write_text(cert.read_text())
        combined = self.dir / f"selfsigned-{domain}.all.pem"
        combined.write_text(cert.read_text() + key.read_text())
        return Identity(domain, cert, key, chain, combined)
