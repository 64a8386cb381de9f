#!/usr/bin/env python
"""Run the `make test` steps one after another and sum up what they ran.

Each step is a make target. A failing step does not stop the later ones, so
one run shows every problem. The output of every step is kept in
.build/logs/<step>.log and shown as it comes, except for sanity: it keeps
about one core busy (mostly pylint) while the other steps mostly wait on
subprocesses and the emulator, so on a 2-core machine it runs beside all of
them and its log is shown when it ends. The last line counts individual tests
across all steps: pytest cases (from JUnit XML), sanity tests and integration
targets; lint counts as one test. The exit status is non-zero when anything
failed or when nothing at all was tested.
"""

import os
import re
import subprocess
import sys
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


class Background:
    """A step whose output goes to its log only, shown when it is collected."""

    def __init__(self, step, extra):
        self.log_path = os.path.join(LOGS, step + '.log')
        print('\n=== make %s (in the background; its output follows when it ends) ===' % ' '.join([step] + extra), flush=True)
        self.log = open(self.log_path, 'w', encoding='utf-8')  # closed in wait()
        self.proc = subprocess.Popen(command(step, extra), cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def wait(self):
        returncode = self.proc.wait()
        self.log.close()
        print('\n=== output of the background step (%s) ===' % os.path.relpath(self.log_path, ROOT))
        sys.stdout.write(read(self.log_path))
        sys.stdout.flush()
        return returncode, self.log_path


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
    if step in ('units', 'emulator-tests', 'sam-tests'):
        xml_path = os.path.join(LOGS, step + '.xml')
        if os.path.exists(xml_path):
            os.unlink(xml_path)
        return ['PYTEST_ARGS=--junitxml=%s' % xml_path]
    if step == 'integration':
        return ['INTEGRATION_ARGS=--continue-on-error']
    return []


# Steps that run beside the ones that follow them, until one of WAIT_BEFORE starts.
BACKGROUND = ('sanity',)
WAIT_BEFORE = ()


def main(steps):
    os.makedirs(LOGS, exist_ok=True)
    # Refresh the collection copy once, before steps read it at the same time.
    subprocess.run(['make', '--no-print-directory', 'collection-link'], cwd=ROOT, check=True)
    results = []
    pending = []

    def collect_background():
        for result, job, started in pending:
            returncode, log_path = job.wait()
            result.seconds = time.monotonic() - started
            count(result, returncode, log_path)
            results.append(result)
        pending.clear()

    for step in steps:
        result = Result(step)
        if step in WAIT_BEFORE:
            collect_background()
        start = time.monotonic()
        if step in BACKGROUND and step != steps[-1]:
            pending.append((result, Background(step, extra_args(step)), start))
            continue
        returncode, log_path = run(step, extra_args(step))
        result.seconds = time.monotonic() - start
        count(result, returncode, log_path)
        results.append(result)
    collect_background()
    results.sort(key=lambda r: steps.index(r.step))
    return summarize(results)


def count(result, returncode, log_path):
    step = result.step
    if step in ('units', 'emulator-tests', 'sam-tests'):
        count_junit(result, os.path.join(LOGS, step + '.xml'), returncode)
    elif step == 'sanity':
        count_ansible_test(result, log_path, returncode, r'(?m)^Running sanity test "')
    elif step == 'integration':
        count_ansible_test(result, log_path, returncode, r'(?m)^Running \S+ integration test (?:role|script)')
    elif returncode:
        result.failed = 1
    else:
        result.passed = 1


def summarize(results):
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
