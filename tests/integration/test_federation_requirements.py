"""The federation tests check what Prosody and ejabberd need before starting them, so that a
missing package fails with its name instead of a timeout (federation/requirements.py). Here a
missing package is simulated: a Lua module path without lua-unbound's library (what a fresh
Debian 12 machine with `--no-install-recommends` had), a module and a binary that exist nowhere,
a user that does not exist. No server is started."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from federation.requirements import (PROSODY_BINARIES, PROSODY_LUA_MODULES, ejabberd_problems,
                                     missing_lua_modules, prosody_problems, script_interpreter)


def prosody_lua() -> str:
    prosody = shutil.which("prosody")
    if prosody is None:
        pytest.fail("\n".join(prosody_problems()), pytrace=False)
    return script_interpreter(prosody)


def test_this_machine_has_everything_the_federation_tests_need():
    assert prosody_problems() == []
    assert ejabberd_problems() == []


def test_the_probe_tells_present_from_missing_lua_modules():
    lua = prosody_lua()
    assert missing_lua_modules(lua, ["lunbound", "corvid_no_such_module", "ssl"]) == \
        ["corvid_no_such_module"]


def test_prosody_without_lua_unbound_is_named(tmp_path):
    """Every C module of Prosody's Lua but lunbound: Prosody itself then says it "was unable to
    find lua-unbound" and falls back to the resolver that ignores the test's DNS."""
    lua = prosody_lua()
    cpath = subprocess.run([lua, "-e", "io.write(package.cpath)"], capture_output=True, text=True,
                           timeout=30, check=True).stdout
    found = False
    for template in cpath.split(";"):
        directory = os.path.dirname(template)
        if not template.endswith("/?.so") or not os.path.isdir(directory):
            continue
        for entry in os.listdir(directory):
            if entry == "lunbound.so":
                found = True
            elif not (tmp_path / entry).exists():
                (tmp_path / entry).symlink_to(os.path.join(directory, entry))
    assert found, f"lunbound.so is in none of {cpath}"
    env = dict(os.environ, **{f"LUA_CPATH_{lua.removeprefix('lua').replace('.', '_')}":
                              f"{tmp_path}/?.so"})
    assert prosody_problems(env=env) == [
        f"Prosody needs the Debian package lua-unbound (the {lua} module lunbound, for its DNS "
        "resolver, the only one that reads the test's resolv.conf; scripts/deps.sh installs it)"]


def test_a_missing_module_or_binary_is_named_with_its_package():
    problems = prosody_problems(
        lua_modules=PROSODY_LUA_MODULES + [("corvid_no_such_module", "lua-corvid-test", "a test")],
        binaries=PROSODY_BINARIES + [("corvid-no-such-binary", "corvid-test-package")])
    assert problems == [
        "Prosody needs corvid-no-such-binary (Debian package corvid-test-package; "
        "scripts/deps.sh installs it): not found on PATH",
        f"Prosody needs the Debian package lua-corvid-test (the {prosody_lua()} module "
        "corvid_no_such_module, for a test; scripts/deps.sh installs it)"]
    assert ejabberd_problems(binaries=[("corvid-no-erl", "erlang-base")],
                             user="corvid-no-such-user") == [
        "ejabberd needs corvid-no-erl (Debian package erlang-base; scripts/deps.sh installs it): "
        "not found on PATH",
        "ejabberd runs as the user corvid-no-such-user, which does not exist: the Debian package "
        "ejabberd creates it (scripts/deps.sh installs it)"]
