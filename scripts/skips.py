#!/usr/bin/env python3
"""Lists every test a scripts/test run skipped and checks each against scripts/allowed-skips.

    scripts/skips.py ALLOW_LIST [--cargo LOG]... [--junit LABEL=FILE]...

A skipped test is a Rust test reported `ignored` in a cargo test log, or a JUnit `<skipped>` test
case (pytest, node's test runner). Its id is `cargo <binary>::<test>` or `<label> <class>::<name>`.
ALLOW_LIST holds one shell-style pattern per line, then ` -- ` and the reason; blank lines and
`#` comments are ignored. Prints one line per skip, then `skips: N allowed, N not listed`; exits
1 when a skip is not listed or the list is malformed. Standard library only.
"""

import fnmatch
import re
import sys
import xml.etree.ElementTree as ET

RUNNING = re.compile(r"^\s*Running (?:unittests )?\S+ \((?:.*/)?deps/([A-Za-z0-9_]+)-[0-9a-f]+(?:\.exe)?\)")
IGNORED = re.compile(r"^test (\S+) \.\.\. ignored(?:, (.*))?$")


def read_allow_list(path):
    rules, errors = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, sep, reason = line.partition(" -- ")
            if not sep or not reason.strip() or not pattern.strip():
                errors.append(f"{path}:{n}: want `PATTERN -- REASON`, got {line!r}")
                continue
            rules.append((pattern.strip(), reason.strip()))
    return rules, errors


def cargo_skips(path):
    binary = "?"
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = RUNNING.match(line)
            if m:
                binary = m.group(1)
                continue
            m = IGNORED.match(line.rstrip("\n"))
            if m:
                yield f"cargo {binary}::{m.group(1)}", m.group(2) or "#[ignore]"


def junit_skips(label, path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"    (no JUnit report {path}: {e})")
        return

    def walk(element, suites):
        for child in element:
            if child.tag == "testsuite":
                yield from walk(child, suites + [child.get("name", "")])
            elif child.tag == "testcase" and child.find("skipped") is not None:
                skipped = child.find("skipped")
                # pytest names the module in `classname`; node's runner says "test" there and
                # names the describe() blocks as nested suites.
                where = child.get("classname") or ""
                if where in ("", "test"):
                    where = " > ".join(n for n in suites if n)
                why = skipped.get("message") or (skipped.text or "").strip()
                yield f"{label} {where}::{child.get('name', '?')}", why

    yield from walk(root, [] if root.tag == "testsuites" else [root.get("name", "")])


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rules, errors = read_allow_list(argv[1])
    skips = []
    args = iter(argv[2:])
    for flag in args:
        value = next(args, None)
        if value is None:
            errors.append(f"{flag} needs a value")
        elif flag == "--cargo":
            skips.extend(cargo_skips(value))
        elif flag == "--junit":
            label, _, path = value.partition("=")
            skips.extend(junit_skips(label, path))
        else:
            errors.append(f"unknown argument {flag}")
    allowed = unlisted = 0
    for test_id, why in skips:
        rule = next((r for r in rules if fnmatch.fnmatchcase(test_id, r[0])), None)
        if rule:
            allowed += 1
            print(f"    allowed   {test_id}: {rule[1]}")
        else:
            unlisted += 1
            print(f"    NOT LISTED {test_id} (skipped: {why}): run it, or list it with its reason in {argv[1]}")
    for e in errors:
        print(f"    error: {e}")
    print(f"skips: {allowed} allowed, {unlisted} not listed")
    return 1 if unlisted or errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
