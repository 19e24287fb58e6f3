"""The HTTP Garden's payload corpus (github.com/narfindustries/http-garden, GPL-3.0): every
backquoted `Payload:` of TROPHIES.md and every `payload '...'` of README.md, decoded from the
Python escapes they are written in. Read from a checkout or a bare git directory at run time
(this repository ships none of its text): $HTTP_GARDEN_DIR, else ../shared/http-garden beside the
repository, else tests/external/http-garden (ignored by git)."""
import codecs
import os
import re
import subprocess

PINNED_COMMIT = "ffb9164c6603f6201c1dc70afb08fd229e2778bc"


def _candidates(root):
    env = os.environ.get("HTTP_GARDEN_DIR")
    if env:
        return [env]
    return [os.path.join(root, "..", "shared", "http-garden"),
            os.path.join(root, "tests", "external", "http-garden")]


def _read(d, name):
    p = os.path.join(d, name)
    if os.path.isfile(p):
        with open(p, "rb") as f:
            return f.read().decode("utf-8")
    # A bare git directory (or a checkout's .git): the pinned commit if it has it, else HEAD.
    for rev in (PINNED_COMMIT, "HEAD"):
        r = subprocess.run(["git", "--git-dir", d, "show", f"{rev}:{name}"],
                           capture_output=True, timeout=30)
        if r.returncode == 0:
            return r.stdout.decode("utf-8")
    return None


def _decode(s):
    return codecs.escape_decode(s.encode("utf-8"))[0]


def load(root):
    """[(id, bytes)] and the directory read, or ([], None) when no corpus is found."""
    for d in _candidates(root):
        if not os.path.exists(d):
            continue
        trophies, readme = _read(d, "TROPHIES.md"), _read(d, "README.md")
        if trophies is None:
            continue
        out, seen = [], set()
        for n, line in enumerate(trophies.splitlines(), 1):
            m = re.match(r"\s*- Payload: (`.*`)\s*$", line)
            if not m:
                continue
            parts = re.findall(r"`([^`]*)`", m.group(1))
            data = b"".join(_decode(p) for p in parts)
            if data and data not in seen:
                seen.add(data)
                out.append((f"TROPHIES.md:{n}", data))
        for n, line in enumerate((readme or "").splitlines(), 1):
            for p in re.findall(r"payload '([^']*)'", line):
                data = _decode(p)
                if data and data not in seen:
                    seen.add(data)
                    out.append((f"README.md:{n}", data))
        return out, d
    return [], None
