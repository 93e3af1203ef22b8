"""conf/jobwrap.ini documents the built-in defaults: they must agree.

Every "; key = value" line in conf/jobwrap.ini is a built-in default, and
every key jobwrap knows is in the file.  The example profiles load.
"""
import re
import subprocess

from conftest import BIN, ROOT

CONF = ROOT / "conf" / "jobwrap.ini"
LINE = re.compile(r"^;\s*([a-z_]+) =\s*(\S*)")


def effective(*args):
    """--check-config output as {key: (value or None, supported)}."""
    p = subprocess.run([BIN, "--check-config", *args], capture_output=True,
                       text=True, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("; ") or line.startswith("["):
            continue
        text = line.split("\t")[0]
        key, _, val = text.lstrip(";").partition(" =")
        out[key] = (val.strip() or None,
                    not line.startswith(";") or "not set" in line)
    return out


def documented():
    keys = {}
    for line in CONF.read_text().splitlines():
        m = LINE.match(line)
        if m:
            keys[m.group(1)] = m.group(2) or None
    return keys


def test_every_key_is_documented_with_its_default():
    eff, doc = effective(), documented()
    assert set(eff) == set(doc), set(eff) ^ set(doc)
    for key, (val, _) in eff.items():
        if key != "run_id":
            assert doc[key] == val, (key, doc[key], val)


def test_uncommented_supported_keys_load_as_defaults(tmp_path):
    eff = effective()
    lines = []
    for line in CONF.read_text().splitlines():
        m = LINE.match(line)
        if m and m.group(2) and eff[m.group(1)][1]:
            line = line.lstrip(";")
        lines.append(line)
    f = tmp_path / "uncommented.ini"
    f.write_text("\n".join(lines) + "\n")
    again = effective("-c", str(f))
    assert {k: v[0] for k, v in again.items()} == \
        {k: v[0] for k, v in eff.items()}


def test_example_profiles_load():
    for ini in sorted((ROOT / "conf").glob("*.ini")):
        names = re.findall(r"^\[profile ([^\]]+)\]", ini.read_text(), re.M)
        effective("-c", str(ini))
        for name in names:
            effective("-c", str(ini), "-p", name)
