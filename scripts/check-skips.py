#!/usr/bin/env python3
"""Fails when a test of the given ctest labels did not run.

  check-skips.py BUILD_DIR JUNIT_XML LABEL...

Reads the JUnit file of a `ctest --output-junit` run and the labels of every
test (`ctest --show-only=json-v1`). Exits 1, naming each test and why it was
skipped (its "SKIPPED: <reason>" output line), when a test with one of the
labels was skipped or not run, or when no test of a label ran at all. Used by
scripts/test.sh in CI, where a skipped test means a missing install step.
"""
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def labels_by_test(build_dir):
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build_dir, check=True,
                         capture_output=True, text=True).stdout
    result = {}
    for test in json.loads(out)["tests"]:
        labels = []
        for prop in test.get("properties", []):
            if prop["name"] == "LABELS":
                labels = prop["value"]
        result[test["name"]] = set(labels)
    return result


def skip_reason(case):
    out = case.findtext("system-out") or ""
    reasons = re.findall(r"SKIPPED: (.*)", out)
    if reasons:
        return reasons[-1].strip()
    skipped = case.find("skipped")
    message = skipped.get("message", "") if skipped is not None else ""
    return f"no reason printed ({message or case.get('status')})"


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build_dir, junit, wanted = argv[1], argv[2], set(argv[3:])
    labels = labels_by_test(build_dir)
    try:
        cases = ET.parse(junit).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        print(f"check-skips: cannot read {junit}: {e}", file=sys.stderr)
        return 1
    ran = {label: 0 for label in wanted}
    missed = []
    for case in cases:
        name = case.get("name")
        mine = sorted(labels.get(name, set()) & wanted)
        if not mine:
            continue
        if case.get("status") == "notrun":
            missed.append((name, mine, skip_reason(case)))
        else:
            for label in mine:
                ran[label] += 1
    empty = sorted(label for label, n in ran.items() if n == 0)
    if not missed and not empty:
        return 0
    print(f"\ncheck-skips: CI requires every test labelled {', '.join(sorted(wanted))} to run.",
          file=sys.stderr)
    if missed:
        print(f"{len(missed)} did not run:", file=sys.stderr)
        for name, mine, reason in missed:
            print(f"  {name} [{','.join(mine)}]: {reason}", file=sys.stderr)
    for label in empty:
        print(f"no test labelled {label} ran", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
