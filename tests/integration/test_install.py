"""make install / make uninstall, with PREFIX and DESTDIR (issue 6, item 5).

Each test installs into a temporary root, checks the files and their modes,
runs the installed binary (--version, --help, a supervised command with
events and a status file, --check-config on each installed ini file),
renders the installed manual pages, then uninstalls with the same DESTDIR
and PREFIX.

What uninstall must leave: every file it did not install (a file of
another package in bin/ or share/man/, a local ini file put in
share/jobwrap/), and the directories it may share with others (bin/,
share/man/man1/, ...) even when empty; it removes the files it installed,
and share/jobwrap/ itself once that is empty.  So after an uninstall
nothing is left but directories and the foreign files.

make runs with `-o shim/jobwrap`: the binary `make check` has just built is
installed as it is, never relinked here (with other flags, or while the
other tests run it), and with MAKEFLAGS cleared, so that a `make check -j`
around us does not hand its jobserver or variables down.  The tests check
that shim/jobwrap is untouched.  They test the Makefile, not the binary, so
they run once (not again against the ASan+UBSan build).
"""
import os
import re
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import (ROOT, TERMINAL, check_events, load_status, read_events,
                      tagged_pids)

pytestmark = pytest.mark.nosan

BUILT = ROOT / "shim" / "jobwrap"
CONFS = sorted(p.name for p in (ROOT / "conf").glob("*.ini"))
SCHEMAS = sorted((ROOT / "include" / "jobwrap").glob("*.schema.json"))
MAKE_VARS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DESTDIR",
             "PREFIX", "BINDIR", "MANDIR", "DATADIR", "GNUMAKEFLAGS")


def make(*args):
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARS}
    p = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(ROOT),
                        "-o", "shim/jobwrap", *args], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"make {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def installs_schemas():
    """Whether the Makefile's install recipe installs the JSON Schemas."""
    text = (ROOT / "Makefile").read_text()
    m = re.search(r"^install:.*?(?=^\S)", text, re.S | re.M)
    return bool(SCHEMAS) and m is not None and "schema" in m.group(0)


def files(top):
    """{relative path: mode} of every non-directory under top."""
    out = {}
    for dirpath, _, names in os.walk(top):
        for n in names:
            p = Path(dirpath, n)
            out[str(p.relative_to(top))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def expected(prefix):
    """{path under the root: (source file, mode)} that install must create.
    prefix is relative to the root (usr/local)."""
    exp = {
        f"{prefix}/bin/jobwrap": (BUILT, 0o755),
        f"{prefix}/share/man/man1/jobwrap.1": (ROOT / "shim/jobwrap.1", 0o644),
        f"{prefix}/share/man/man5/jobwrap.ini.5":
            (ROOT / "shim/jobwrap.ini.5", 0o644),
    }
    for c in CONFS:
        exp[f"{prefix}/share/jobwrap/{c}"] = (ROOT / "conf" / c, 0o644)
    return exp


def check_installed(root, prefix, foreign=()):
    """The installed files are exactly the expected ones (and the schemas,
    wherever the Makefile puts them), with the sources' bytes."""
    got = files(root)
    exp = expected(prefix)
    for path, (src, mode) in exp.items():
        assert path in got, f"{path} not installed: {sorted(got)}"
        assert got[path] == mode, f"{path}: mode {got[path]:o}, not {mode:o}"
        assert (root / path).read_bytes() == src.read_bytes(), path
    rest = {p: m for p, m in got.items() if p not in exp and p not in foreign}
    if installs_schemas():
        for s in SCHEMAS:
            where = [p for p in rest if Path(p).name == s.name]
            assert len(where) == 1, f"{s.name} installed {len(where)} times"
            p = where[0]
            assert p.startswith(prefix + "/"), p
            assert rest.pop(p) == 0o644, p
            assert (root / p).read_bytes() == s.read_bytes(), p
    assert not rest, f"installed but not expected: {rest}"


def run_installed(jobwrap, tmp_path):
    """The installed binary works on its own."""
    env = {"PATH": "/usr/bin:/bin", "JW_TEST_TAG": uuid.uuid4().hex}
    v = subprocess.run([jobwrap, "--version"], capture_output=True,
                       text=True, env=env)
    assert v.returncode == 0 and re.match(r"jobwrap \d+\.\d+", v.stdout), v
    h = subprocess.run([jobwrap, "--help"], capture_output=True, text=True,
                       env=env)
    assert h.returncode == 0 and h.stdout.startswith("usage: jobwrap"), h
    assert "jobwrap(1)" in h.stdout and "jobwrap.ini(5)" in h.stdout

    ev, st = tmp_path / "run.events", tmp_path / "run.status"
    p = subprocess.run([jobwrap, "-t", "10s", "--events-file", str(ev),
                        "--status-file", str(st), "--", "sh", "-c",
                        "echo relayed; exec true"],
                       capture_output=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"relayed\n"
    events = read_events(ev)
    check_events(events)
    assert [e["event"] for e in events] == [
        "start", "spawn", "attempt_end", "exit"]
    assert events[0]["jobwrap_pid"] > 0
    status = load_status(st)
    assert status["state"] == "succeeded" and status["state"] in TERMINAL
    assert status["exit_code"] == 0 and status["bytes_out"] == 8
    assert not tagged_pids(env["JW_TEST_TAG"])


def check_configs(jobwrap, datadir):
    for c in CONFS:
        p = subprocess.run([jobwrap, "--check-config", "-c",
                            str(datadir / c)], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"})
        assert p.returncode == 0, (c, p.stderr)
        assert "[jobwrap]" in p.stdout, (c, p.stdout)


def check_manuals(mandir):
    """The installed pages render, and man finds them by name there."""
    pages = [(mandir / "man1" / "jobwrap.1", "1", "jobwrap", "JOBWRAP(1)"),
             (mandir / "man5" / "jobwrap.ini.5", "5", "jobwrap.ini",
              "JOBWRAP.INI(5)")]
    mandoc, man = shutil.which("mandoc"), shutil.which("man")
    if not mandoc and not man:
        pytest.skip("neither mandoc nor man is installed")
    env = {"PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat",
           "MANWIDTH": "80", "LC_ALL": "C.UTF-8"}
    for path, section, name, title in pages:
        outs = []
        if mandoc:
            outs.append(subprocess.run([mandoc, "-T", "utf8", str(path)],
                                       capture_output=True, env=env))
        if man:
            outs.append(subprocess.run([man, "-M", str(mandir), section,
                                        name], capture_output=True, env=env))
        for p in outs:
            text = re.sub(r".\x08", "", p.stdout.decode())
            assert p.returncode == 0, (p.args, p.stderr)
            assert title in text and "NAME" in text, (p.args, text[:300])
            assert "SYNOPSIS" in text or "DESCRIPTION" in text, text[:300]


def stamp():
    s = BUILT.stat()
    return s.st_mtime_ns, s.st_size, s.st_ino


@pytest.fixture
def built():
    assert BUILT.exists(), "shim/jobwrap missing: run make test"
    before = stamp()
    yield
    assert stamp() == before, "make install rebuilt shim/jobwrap"


def test_destdir_install_runs_and_uninstalls_exactly(tmp_path, built):
    root = tmp_path / "root"
    prefix = "usr/local"
    top = root / prefix
    # Files of other packages, where ours go: uninstall must leave them.
    foreign = {f"{prefix}/bin/other-tool": b"#!/bin/sh\n",
               f"{prefix}/share/man/man1/other.1": b".Dd\n"}
    for p, data in foreign.items():
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(data)
    make("install", f"DESTDIR={root}", "PREFIX=/usr/local")
    check_installed(root, prefix, foreign)
    make("install", f"DESTDIR={root}", "PREFIX=/usr/local")  # again: fine
    check_installed(root, prefix, foreign)

    run_installed(str(top / "bin" / "jobwrap"), tmp_path)
    check_configs(str(top / "bin" / "jobwrap"), top / "share" / "jobwrap")
    check_manuals(top / "share" / "man")

    # A local file beside the installed ini files: not ours to remove.
    local = top / "share" / "jobwrap" / "local.ini"
    local.write_text("[jobwrap]\n")
    make("uninstall", f"DESTDIR={root}", "PREFIX=/usr/local")
    left = files(root)
    assert left == {**{p: 0o644 for p in foreign},
                    f"{prefix}/share/jobwrap/local.ini": 0o644}, left
    for p, data in foreign.items():
        assert (root / p).read_bytes() == data
    # Without the local file, share/jobwrap goes too; the shared
    # directories stay.
    make("install", f"DESTDIR={root}", "PREFIX=/usr/local")
    local.unlink()
    make("uninstall", f"DESTDIR={root}", "PREFIX=/usr/local")
    assert files(root) == {p: 0o644 for p in foreign}
    assert not (top / "share" / "jobwrap").exists()
    assert (top / "bin").is_dir() and (top / "share/man/man5").is_dir()
    # Uninstalling what is not there is no error.
    make("uninstall", f"DESTDIR={root}", "PREFIX=/usr/local")


def test_custom_prefix_without_destdir(tmp_path, built):
    prefix = tmp_path / "opt" / "jobwrap"
    make("install", f"PREFIX={prefix}")
    check_installed(tmp_path, str(prefix.relative_to(tmp_path)))
    run_installed(str(prefix / "bin" / "jobwrap"), tmp_path)
    check_configs(str(prefix / "bin" / "jobwrap"),
                  prefix / "share" / "jobwrap")
    check_manuals(prefix / "share" / "man")
    make("uninstall", f"PREFIX={prefix}")
    assert files(prefix) == {}, files(prefix)
    assert not (prefix / "share" / "jobwrap").exists()


def test_destdir_with_another_prefix(tmp_path, built):
    """DESTDIR and a PREFIX other than /usr/local: the files land under
    DESTDIR/PREFIX, and nothing outside it is written."""
    root = tmp_path / "stage"
    make("install", f"DESTDIR={root}", "PREFIX=/opt/jw")
    check_installed(root, "opt/jw")
    assert sorted(os.listdir(root)) == ["opt"]
    assert not Path("/opt/jw").exists()
    make("uninstall", f"DESTDIR={root}", "PREFIX=/opt/jw")
    assert files(root) == {}
