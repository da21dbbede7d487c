#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# meta.include_rules: fails when a module includes what design.md forbids
# (style.md §2.3). Usage: check_includes.py REPO_ROOT | --self-test
import os
import re
import sys
import tempfile

ALLOWED = {
    "common": set(),
    "protocol": {"common"},
    "storage": {"common", "protocol"},
    "raft": {"common"},
    "cluster": {"common", "protocol", "storage", "raft"},
    "groups": {"common", "protocol", "cluster"},
    "broker": {"common", "protocol", "storage", "cluster", "groups"},
    "server": {"common", "protocol", "broker"},
    "client": {"common", "protocol"},
    "apps": None,  # wiring: may use everything
}
PURE = {"common", "protocol", "storage", "raft"}
PURE_FORBIDDEN = [
    (re.compile(r"^<boost/asio"), "Asio"),
    (re.compile(r"^<boost/beast"), "Beast"),
    (re.compile(r"^<thread>$"), "threads"),
    (re.compile(r'^"spate/common/asio\.h"$'), "the Asio wrapper"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"][^>"]+[>"])')
SOURCE_EXT = (".h", ".hpp", ".cpp", ".cc")


def module_files(root, module):
    for base in (os.path.join(root, "include", "spate", module), os.path.join(root, "src", module)):
        if not os.path.isdir(base):
            continue
        for dirpath, _, names in os.walk(base):
            for name in sorted(names):
                if name.endswith(SOURCE_EXT):
                    yield os.path.join(dirpath, name)


def check(root):
    violations = []
    checked = 0
    for module, allowed in ALLOWED.items():
        for path in module_files(root, module):
            checked += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    rel = os.path.relpath(path, root)
                    if module in PURE:
                        for pattern, what in PURE_FORBIDDEN:
                            if pattern.match(target):
                                violations.append(f"{rel}:{lineno}: module {module} may not include {target} ({what})")
                    dep = re.match(r'^[<"]spate/([a-z_]+)/', target)
                    if dep and allowed is not None:
                        other = dep.group(1)
                        if other != module and other not in allowed:
                            violations.append(f"{rel}:{lineno}: module {module} may not include {target}")
                    # Private headers of another module, included by relative path.
                    priv = re.match(r'^"([a-z_]+)/[^"]+\.h"$', target)
                    if priv and priv.group(1) in ALLOWED and priv.group(1) != module:
                        violations.append(f"{rel}:{lineno}: module {module} may not include another module's private header {target}")
    return checked, violations


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "src", "storage"))
        os.makedirs(os.path.join(root, "src", "raft"))
        with open(os.path.join(root, "src", "storage", "bad.cpp"), "w") as f:
            f.write('#include "spate/raft/replica.h"\n#include <boost/asio.hpp>\n#include "spate/common/result.h"\n')
        with open(os.path.join(root, "src", "raft", "ok.cpp"), "w") as f:
            f.write('#include "spate/common/result.h"\n#include <vector>\n')
        checked, violations = check(root)
        assert checked == 2, checked
        assert len(violations) == 2, violations
        assert "spate/raft/replica.h" in violations[0], violations
        assert "boost/asio" in violations[1] or "boost/asio" in violations[0], violations
    print("include rules self-test: ok")
    return 0


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__ or "usage: check_includes.py REPO_ROOT | --self-test", file=sys.stderr)
        return 2
    checked, violations = check(sys.argv[1])
    for v in violations:
        print(v)
    print(f"include rules: {checked} files checked, {len(violations)} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
