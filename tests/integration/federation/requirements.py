"""What Prosody and ejabberd need installed for the federation tests, checked before either is
started: a missing package must fail the test with its name, not as a timeout later on.

Prosody resolves names only through lua-unbound (util/dependencies.lua preloads net.unbound in
place of net.adns when `require "lunbound"` succeeds); without it, it falls back to a resolver that
ignores the test's resolv.conf and federation times out. Debian's prosody merely recommends
lua5.4-unbound, so `apt-get install --no-install-recommends` leaves it out."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from typing import Optional

import pytest

DEPS = "scripts/deps.sh installs it"

# (Lua module, Debian package, what Prosody uses it for); Prosody requires them with the Lua of
# its #! line.
PROSODY_LUA_MODULES = [
    ("lunbound", "lua-unbound", "its DNS resolver, the only one that reads the test's resolv.conf"),
    ("ssl", "lua-sec", "TLS"),
    ("lxp", "lua-expat", "XML parsing"),
    ("socket", "lua-socket", "sockets"),
    ("lfs", "lua-filesystem", "file access"),
]

PROSODY_BINARIES = [("prosody", "prosody"), ("prosodyctl", "prosody")]
# ejabberdctl runs the Erlang VM (erl) as the ejabberd user, which the package creates.
EJABBERD_BINARIES = [("ejabberdctl", "ejabberd"), ("erl", "erlang-base")]


def missing_binaries(server: str, binaries: list[tuple[str, str]]) -> list[str]:
    return [f"{server} needs {name} (Debian package {package}; {DEPS}): not found on PATH"
            for name, package in binaries if shutil.which(name) is None]


def script_interpreter(path: str) -> Optional[str]:
    """The program of a script's #! line ("lua5.4" for "#!/usr/bin/env lua5.4")."""
    try:
        with open(path, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and os.path.basename(words[0]) == "env":
        words = words[1:]
    return words[0] if words else None


def missing_lua_modules(interpreter: str, modules: list[str],
                        env: Optional[dict] = None) -> list[str]:
    """The modules that `require` cannot load with this Lua (one process for all of them)."""
    probe = ("for _, m in ipairs(arg) do "
             "if not pcall(require, m) then io.write(m, '\\n') end end")
    r = subprocess.run([interpreter, "-e", probe, "-", *modules], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{interpreter} could not run the module probe: {r.stderr.strip()}")
    return r.stdout.split()


def prosody_problems(lua_modules=PROSODY_LUA_MODULES, binaries=PROSODY_BINARIES,
                     env: Optional[dict] = None) -> list[str]:
    """Why Prosody cannot run the federation tests here; empty when it can."""
    problems = missing_binaries("Prosody", binaries)
    prosody = shutil.which("prosody")
    if prosody is None:
        return problems
    lua = script_interpreter(prosody)
    if lua is None or shutil.which(lua) is None:
        return problems + [f"Prosody's Lua interpreter ({lua or 'the #! line of ' + prosody}) is "
                           f"missing; the Debian package prosody depends on it ({DEPS})"]
    packages = {module: (package, why) for module, package, why in lua_modules}
    for module in missing_lua_modules(lua, list(packages), env):
        package, why = packages[module]
        problems.append(f"Prosody needs the Debian package {package} (the {lua} module "
                        f"{module}, for {why}; {DEPS})")
    return problems


def ejabberd_problems(binaries=EJABBERD_BINARIES, user: str = "ejabberd") -> list[str]:
    """Why ejabberd cannot run the federation tests here; empty when it can."""
    problems = missing_binaries("ejabberd", binaries)
    try:
        pwd.getpwnam(user)
    except KeyError:
        problems.append(f"ejabberd runs as the user {user}, which does not exist: the Debian "
                        f"package ejabberd creates it ({DEPS})")
    return problems


def require(problems: list[str]) -> None:
    """Fails the current test (or fixture) with every problem, without a traceback."""
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
