"""Temporary /etc/hosts entries (c-ares reads /etc/hosts before asking DNS): added under a lock,
tagged with a marker, and removed again, whatever else changed the file meanwhile."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

HOSTS = Path("/etc/hosts")
LOCK = Path("/tmp/corvid-it-etc-hosts.lock")


@contextlib.contextmanager
def _locked():
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class EtcHosts:
    def __init__(self) -> None:
        self.marker = f"# corvid-it {os.getpid()}"

    def add(self, ip: str, *names: str) -> None:
        with _locked():
            text = HOSTS.read_text()
            if text and not text.endswith("\n"):
                text += "\n"
            HOSTS.write_text(text + f"{ip} {' '.join(names)} {self.marker}\n")

    def clear(self) -> None:
        with _locked():
            lines = HOSTS.read_text().splitlines(keepends=True)
            kept = [line for line in lines if not line.rstrip("\n").endswith(self.marker)]
            if len(kept) != len(lines):
                HOSTS.write_text("".join(kept))
