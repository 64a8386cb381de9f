#!/usr/bin/env python
"""Run the `make test` steps one after another and sum up what they ran.

Each step is a make target. A failing step does not stop the later ones, so
one run shows every problem. The output of every step is kept in
.build/logs/<step>.log and shown as it comes, except for the background lane:
sanity keeps about one core busy (mostly pylint), so on a 2-core machine it
runs beside the other steps, and the emulator's and the SAM store's pytest
suites follow it in the same lane, so that the lane and integration (the
longest step) take about as long as each other. A lane step's log is shown
when the lane ends. The last line counts individual tests
across all steps: pytest cases (from JUnit XML), sanity tests and integration
targets; lint counts as one test. The exit status is non-zero when anything
failed or when nothing at all was tested.
"""

import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, '.build', 'logs')

ANSIBLE_TEST_FAILED = re.compile(r'The (\d+) (?:sanity|integration) test\(s\) listed below \(out of (\d+)\) failed')


class Result:
    def __init__(self, step):
        self.step = step
        self.passed = self.failed = self.skipped = 0
        self.note = ''
        self.seconds = 0.0


def command(step, extra):
    return ['make', '--no-print-directory', step] + extra


def run(step, extra):
    log_path = os.path.join(LOGS, step + '.log')
    print('\n=== make %s ===' % ' '.join([step] + extra), flush=True)
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(command(step, extra), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors='replace')
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        sys.stdout.flush()
        return proc.wait(), log_path


class BackgroundLane(threading.Thread):
    """Steps run one after another beside the foreground; their output goes to their logs only,
    shown when the lane is collected."""

    def __init__(self, steps):
        super().__init__(daemon=True)
        self.steps = steps
        self.finished = []  # (Result, returncode, log path)
        print('\n=== in the background, one after another: %s (their output follows when they end) ==='
              % ', '.join('make ' + step for step in steps), flush=True)

    def run(self):
        for step in self.steps:
            result = Result(step)
            log_path = os.path.join(LOGS, step + '.log')
            start = time.monotonic()
            with open(log_path, 'w', encoding='utf-8') as log:
                returncode = subprocess.call(command(step, extra_args(step)), cwd=ROOT, stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            result.seconds = time.monotonic() - start
            self.finished.append((result, returncode, log_path))

    def collect(self):
        self.join()
        for result, returncode, log_path in self.finished:
            print('\n=== output of the background step %s (%s) ===' % (result.step, os.path.relpath(log_path, ROOT)))
            sys.stdout.write(read(log_path))
            sys.stdout.flush()
            count(result, returncode, log_path)
        return [finished[0] for finished in self.finished]


def read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def count_junit(result, xml_path, returncode):
    # pytest exits 5 when it collected nothing: not a failure of the step, but
    # nothing to count either.
    if returncode == 5:
        result.note = 'no tests collected'
        return
    if not os.path.exists(xml_path):
        result.failed = 1
        result.note = 'pytest wrote no report (exit %d)' % returncode
        return
    for suite in ET.parse(xml_path).getroot().iter('testsuite'):
        tests = int(suite.get('tests', 0))
        failed = int(suite.get('failures', 0)) + int(suite.get('errors', 0))
        skipped = int(suite.get('skipped', 0))
        result.failed += failed
        result.skipped += skipped
        result.passed += tests - failed - skipped
    if returncode and not result.failed:
        result.failed = 1
        result.note = 'pytest exited %d' % returncode


def count_ansible_test(result, log_path, returncode, started):
    text = read(log_path)
    ran = len(re.findall(started, text))
    match = ANSIBLE_TEST_FAILED.search(text)
    failed = int(match.group(1)) if match else 0
    if returncode and not failed:
        failed = 1
        result.note = 'exited %d' % returncode
    if 'All targets skipped' in text and not ran:
        result.note = 'all targets skipped'
    result.failed = failed
    result.passed = max(ran - failed, 0)


def extra_args(step):
    if step in ('units', 'units-2.16', 'emulator-tests', 'sam-tests'):
        xml_path = os.path.join(LOGS, step + '.xml')
        if os.path.exists(xml_path):
            os.unlink(xml_path)
        return ['PYTEST_ARGS=--junitxml=%s' % xml_path]
    if step == 'integration':
        return ['INTEGRATION_ARGS=--continue-on-error']
    if step == 'sanity-2.16':
        # The sanity tests whose rules are stricter on ansible-core 2.16 than on the newest core (the full
        # set on 2.16 is `make core-oldest`): empty-init requires every __init__.py under module_utils empty.
        return ['SANITY_ARGS=--test empty-init']
    return []


# Steps that run one after another beside the others (see the module's docstring).
BACKGROUND_LANE = ('sanity', 'emulator-tests', 'sam-tests')


def main(steps):
    os.makedirs(LOGS, exist_ok=True)
    # Refresh the collection copy once, before steps read it at the same time.
    subprocess.run(['make', '--no-print-directory', 'collection-link'], cwd=ROOT, check=True)
    lane_steps = [step for step in steps if step in BACKGROUND_LANE]
    foreground = [step for step in steps if step not in BACKGROUND_LANE]
    lane = None
    if lane_steps and foreground:
        lane = BackgroundLane(lane_steps)
        lane.start()
    else:
        foreground = steps
    results = []
    for step in foreground:
        result = Result(step)
        start = time.monotonic()
        returncode, log_path = run(step, extra_args(step))
        result.seconds = time.monotonic() - start
        count(result, returncode, log_path)
        results.append(result)
    if lane is not None:
        results.extend(lane.collect())
    results.sort(key=lambda r: steps.index(r.step))
    return summarize(results)


def count(result, returncode, log_path):
    step = result.step
    if step in ('units', 'units-2.16', 'emulator-tests', 'sam-tests'):
        count_junit(result, os.path.join(LOGS, step + '.xml'), returncode)
    elif step in ('sanity', 'sanity-2.16'):
        count_ansible_test(result, log_path, returncode, r'(?m)^Running sanity test "')
    elif step in ('integration', 'integration-2.16'):
        count_ansible_test(result, log_path, returncode, r'(?m)^Running \S+ integration test (?:role|script)')
    elif returncode:
        result.failed = 1
    else:
        result.passed = 1


# At most this many lines of each failed step are repeated above the summary, so that a failure is
# explained at the end of a long run (where a CI excerpt looks) and not only somewhere in the middle.
DIGEST_LINES = 60
INTEGRATION_TARGET_START = re.compile(r'^Running (\S+) integration test (?:role|script)')
FAILED_TARGETS = re.compile(r'The \d+ integration test\(s\) listed below \(out of \d+\) failed[^\n]*\n((?:\S+\n)+)')


def integration_sections(text):
    """{target: the lines of its output} from an ansible-test integration log."""
    sections, target = {}, None
    for line in text.splitlines():
        match = INTEGRATION_TARGET_START.match(line)
        if match:
            target = match.group(1)
        if target:
            sections.setdefault(target, []).append(line)
    return sections


def failure_digest(result):
    """The lines that explain why ``result``'s step failed: the end of each failed integration
    target's output, sanity's ERROR lines, pytest's failure messages, or the end of the log."""
    log_path = os.path.join(LOGS, result.step + '.log')
    text = read(log_path) if os.path.exists(log_path) else ''
    if result.step == 'integration':
        failed = FAILED_TARGETS.search(text)
        sections = integration_sections(text)
        lines = []
        for target in (failed.group(1).split() if failed else []):
            lines.append('--- %s ---' % target)
            lines.extend(sections.get(target, [])[-DIGEST_LINES // 2:])
        return lines or text.splitlines()[-DIGEST_LINES:]
    if result.step in ('sanity', 'sanity-2.16'):
        return [line for line in text.splitlines() if line.startswith('ERROR:')][:DIGEST_LINES] or text.splitlines()[-DIGEST_LINES:]
    xml_path = os.path.join(LOGS, result.step + '.xml')
    if os.path.exists(xml_path):
        lines = []
        for case in ET.parse(xml_path).getroot().iter('testcase'):
            for problem in list(case.findall('failure')) + list(case.findall('error')):
                lines.append('%s::%s: %s' % (case.get('classname'), case.get('name'), (problem.get('message') or '')[:300]))
        if lines:
            return lines[:DIGEST_LINES]
    return text.splitlines()[-DIGEST_LINES:]


def summarize(results):
    for r in results:
        if r.failed:
            print('\n=== why %s failed (from %s) ===' % (r.step, os.path.relpath(os.path.join(LOGS, r.step + '.log'), ROOT)))
            print('\n'.join(failure_digest(r)))
    print('\n=== summary ===')
    for r in results:
        print('  %-15s %4d passed %4d failed %4d skipped %6.0f s  %s' % (r.step, r.passed, r.failed, r.skipped, r.seconds, r.note))
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = sum(r.skipped for r in results)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed or not passed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:] or ['lint', 'sanity', 'units', 'emulator-tests', 'sam-tests', 'integration']))
