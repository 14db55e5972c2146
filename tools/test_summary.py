#!/usr/bin/env python3
"""Counts GoogleTest cases across every Bazel test target of a run.

Usage: test_summary.py BAZEL_OUTPUT_FILE TESTLOGS_DIR

Reads Bazel's per-target summary lines (//pkg:target  PASSED|FAILED|...)
from the captured output and each target's test.xml (JUnit XML written by
gtest, or Bazel's own when the binary died without one). A target that did
not build, timed out without a result, or left no test.xml counts as one
failed case. Prints the per-target counts and a last line
"N passed, M failed"; exits 1 if anything failed.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

STATUS_RE = re.compile(
    r"^(//\S+)\s+(?:\(cached\)\s+)?(PASSED|FAILED TO BUILD|FAILED|TIMEOUT|"
    r"NO STATUS|FLAKY|INCOMPLETE|REMOTE FAILURE|BUILD FAILURE)\b")


def count_xml(path):
    passed = failed = 0
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.get("status") == "notrun" or case.find("skipped") is not None:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        else:
            passed += 1
    return passed, failed


def main():
    output_file, testlogs = sys.argv[1], sys.argv[2]
    targets = {}
    with open(output_file, errors="replace") as f:
        for line in f:
            m = STATUS_RE.match(line.strip())
            if m:
                targets[m.group(1)] = m.group(2)
    total_passed = total_failed = 0
    for target, status in sorted(targets.items()):
        pkg, name = target[2:].split(":", 1)
        xml = os.path.join(testlogs, pkg, name, "test.xml")
        passed = failed = 0
        if status in ("PASSED", "FAILED", "FLAKY", "TIMEOUT") and os.path.exists(xml):
            try:
                passed, failed = count_xml(xml)
            except ET.ParseError:
                failed = 1
            if status != "PASSED" and failed == 0:
                failed = 1  # died after its last reported case
        else:
            failed = 1
        if passed == 0 and failed == 0:
            failed = 1  # a test target that ran no case proves nothing
        print(f"{target}: {status}, {passed} passed, {failed} failed")
        total_passed += passed
        total_failed += failed
    if not targets:
        print("no test results found in the Bazel output")
        total_failed += 1
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
