#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# meta.include_rules: fails when a module includes what design.md forbids
# (style.md §2.3). Usage: check_includes.py REPO_ROOT | --self-test
"""Checks Spate's module include rules (style.md §2.2-2.3).

usage: check_includes.py REPO_ROOT   check include/spate/<m>/ and src/<m>/
       check_includes.py --self-test check the checker on a fake tree

Prints one line per violation (file:line: module X may not include Y) and
exits 1 if there is any; otherwise prints
"include rules: N files checked, 0 violations" and exits 0.
"""
import os
import re
import subprocess
import sys
import tempfile

# style.md §2.2: the Spate modules each module may include, down design.md's table.
ALLOWED = {
    "common": set(),
    "protocol": {"common"},
    "storage": {"common", "protocol"},
    "raft": {"common"},
    "net": {"common"},  # framed connections, the wake-up primitive: below cluster and server
    "cluster": {"common", "protocol", "storage", "raft", "net"},
    "groups": {"common", "protocol", "cluster", "net"},
    "broker": {"common", "protocol", "storage", "cluster", "groups", "net"},
    "server": {"common", "protocol", "broker", "net"},
    "client": {"common", "protocol"},
    "apps": None,  # wiring: may use everything
}
# Pure modules: no Asio, no Beast, no threads (style.md §2.3 rule 2).
PURE = {"common", "protocol", "storage", "raft"}
PURE_FORBIDDEN = [
    (re.compile(r"^<boost/asio"), "Asio"),
    (re.compile(r"^<boost/beast"), "Beast"),
    (re.compile(r"^<thread>$"), "threads"),
    (re.compile(r"^<pthread\.h>$"), "threads"),
    (re.compile(r'^[<"]spate/common/asio\.h[>"]$'), "the Asio wrapper"),
]
# The one file in common that names Asio (style.md §2.1, target spate_asio).
ASIO_WRAPPER = os.path.join("include", "spate", "common", "asio.h")
# Beast (HTTP) is for the admin endpoint in server only (design.md, Modules).
BEAST = re.compile(r"^<boost/beast")
BEAST_MODULES = {"server", "apps"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"][^>"]+[>"])')
SPATE_HEADER = re.compile(r'^[<"]spate/([a-z_]+)/')
PRIVATE_HEADER = re.compile(r'^"([a-z_]+)/[^"]+\.h"$')
SOURCE_EXT = (".h", ".hpp", ".cpp", ".cc")


def module_files(root, module):
    for base in (os.path.join(root, "include", "spate", module), os.path.join(root, "src", module)):
        if not os.path.isdir(base):
            continue  # a module that does not exist yet
        for dirpath, dirnames, names in os.walk(base):
            dirnames.sort()
            for name in sorted(names):
                if name.endswith(SOURCE_EXT):
                    yield os.path.join(dirpath, name)


def file_violations(root, path, module, allowed):
    out = []
    rel = os.path.relpath(path, root)
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            where = f"{rel}:{lineno}: module {module} may not include {target}"
            if module in PURE and not (rel == ASIO_WRAPPER and target.startswith("<boost/asio")):
                for pattern, what in PURE_FORBIDDEN:
                    if pattern.match(target):
                        out.append(f"{where} ({what})")
            elif module not in PURE and module not in BEAST_MODULES and BEAST.match(target):
                out.append(f"{where} (Beast is for server only)")
            dep = SPATE_HEADER.match(target)
            if dep and allowed is not None:
                other = dep.group(1)
                if other != module and other not in allowed:
                    out.append(where)
            # Another module's private header, reached by a path relative to src/.
            priv = PRIVATE_HEADER.match(target)
            if priv and priv.group(1) in ALLOWED and priv.group(1) != module:
                out.append(f"{where} (another module's private header)")
    return out


def check(root):
    violations = []
    checked = 0
    for module, allowed in ALLOWED.items():
        for path in module_files(root, module):
            checked += 1
            violations.extend(file_violations(root, path, module, allowed))
    return checked, violations


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def self_test():
    """Builds fake trees and checks that every rule fires, and only where it should."""
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory() as root:
        # Allowed edges and harmless includes: no violation.
        write(root, "include/spate/common/result.h", '#include <vector>\n#include <fmt/format.h>\n')
        write(root, "src/protocol/frame.cpp", '#include "spate/common/result.h"\n#include <zlib.h>\n')
        write(root, "src/storage/log.cpp",
              '#include "spate/protocol/record_batch.h"\n#include "segment.h"\n'
              '// #include "spate/raft/replica.h" is only a comment\n')
        write(root, "src/cluster/partition.cpp",
              '#include "spate/raft/replica.h"\n#include "spate/storage/partition_log.h"\n'
              '#include <boost/asio.hpp>\n#include <thread>\n#include "spate/net/listener.h"\n')
        write(root, "src/net/listener.cpp",
              '#include "spate/common/asio.h"\n#include "spate/common/result.h"\n'
              '#include "connection.h"\n')
        write(root, "src/apps/spated/main.cpp",
              '#include "spate/server/listener.h"\n#include "spate/raft/replica.h"\n'
              '#include <thread>\n#include "options.h"\n')
        write(root, "src/raft/README.md", '#include "spate/storage/partition_log.h"\n')
        write(root, "include/spate/common/asio.h", '#include <utility>\n#include <boost/asio.hpp>\n')
        write(root, "src/server/admin.cpp", '#include <boost/beast/http.hpp>\n')
        checked, violations = check(root)
        expect(checked == 8, f"clean tree: {checked} files checked, want 8")
        expect(violations == [], f"clean tree: unexpected {violations}")

        # One violation of each kind, each on a known line.
        write(root, "src/raft/replica.cpp",
              '#include "spate/common/result.h"\n#include "spate/storage/partition_log.h"\n'
              '  #  include <spate/protocol/frame.h>\n')
        write(root, "include/spate/storage/file.h", '#include <thread>\n')
        write(root, "src/common/timer.cpp", '#include "spate/common/asio.h"\n')
        write(root, "src/protocol/codec.cpp", '#include <boost/beast/http.hpp>\n')
        write(root, "src/server/conn.cpp",
              '#include "spate/broker/dispatch.h"\n#include "spate/cluster/shard.h"\n')
        write(root, "src/client/client.cpp", '#include "storage/segment.h"\n')
        write(root, "src/broker/http.cpp", '#include <boost/beast/core.hpp>\n')
        write(root, "src/net/frame.cpp",
              '#include "spate/common/bytes.h"\n#include "spate/protocol/frame.h"\n')
        checked, violations = check(root)
        expect(checked == 16, f"bad tree: {checked} files checked, want 16")
        want = [
            'src/common/timer.cpp:1: module common may not include "spate/common/asio.h" '
            "(the Asio wrapper)",
            "src/protocol/codec.cpp:1: module protocol may not include <boost/beast/http.hpp> "
            "(Beast)",
            "include/spate/storage/file.h:1: module storage may not include <thread> (threads)",
            'src/raft/replica.cpp:2: module raft may not include "spate/storage/partition_log.h"',
            "src/raft/replica.cpp:3: module raft may not include <spate/protocol/frame.h>",
            'src/server/conn.cpp:2: module server may not include "spate/cluster/shard.h"',
            'src/client/client.cpp:1: module client may not include "storage/segment.h" '
            "(another module's private header)",
            "src/broker/http.cpp:1: module broker may not include <boost/beast/core.hpp> "
            "(Beast is for server only)",
            'src/net/frame.cpp:2: module net may not include "spate/protocol/frame.h"',
        ]
        expect(sorted(violations) == sorted(want),
               "bad tree:\n  got  " + "\n       ".join(violations) +
               "\n  want " + "\n       ".join(want))

        # The command line: exit 1 and one line per violation, then the count.
        run = subprocess.run([sys.executable, os.path.abspath(__file__), root],
                             capture_output=True, text=True, check=False)
        lines = run.stdout.splitlines()
        expect(run.returncode == 1, f"bad tree: exit {run.returncode}, want 1")
        expect(lines[:-1] == violations, f"bad tree: printed {lines[:-1]}")
        expect(lines[-1:] == [f"include rules: 16 files checked, {len(want)} violations"],
               f"bad tree: summary {lines[-1:]}")

    with tempfile.TemporaryDirectory() as root:
        write(root, "src/raft/replica.cpp", '#include "spate/common/result.h"\n')
        run = subprocess.run([sys.executable, os.path.abspath(__file__), root],
                             capture_output=True, text=True, check=False)
        expect(run.returncode == 0, f"clean tree: exit {run.returncode}, want 0")
        expect(run.stdout == "include rules: 1 files checked, 0 violations\n",
               f"clean tree: printed {run.stdout!r}")

    for f in failures:
        print(f"include rules self-test: FAILED: {f}")
    if failures:
        return 1
    print("include rules self-test: ok")
    return 0


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        return self_test()
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    root = sys.argv[1]
    if not os.path.isdir(os.path.join(root, "src")):
        print(f"check_includes.py: {root} has no src/ directory", file=sys.stderr)
        return 2
    checked, violations = check(root)
    for v in violations:
        print(v)
    print(f"include rules: {checked} files checked, {len(violations)} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
