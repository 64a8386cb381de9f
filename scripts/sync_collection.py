#!/usr/bin/env python
"""Mirror the collection's files into .build/ansible_collections/cloudpartner/csp.

ansible-test needs the collection under an ``ansible_collections/<ns>/<name>``
path and must see exactly the project's files: no .venv, no .build, no caches.
A symlink to the repository root would contain both, so this copies what git
tracks plus untracked files that are not ignored, updates only what changed
and deletes what is gone. ansible-test's own ``tests/output`` in the copy is
kept. The copy gets a git repository of its own (never committed to): ansible-test
asks git for the file list, and without one it would walk up to this work tree,
where .build is ignored, and see no files at all. ``extra`` paths (git-ignored but needed, such as the integration config)
can be named on the command line.
"""

import argparse
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEST = os.path.join(ROOT, '.build', 'ansible_collections', 'cloudpartner', 'csp')
KEEP = ('.git', 'tests/output')
# Git-ignored files that are copied whenever they exist: `make integration` writes the emulator's
# endpoints there while other `make test` steps may sync the copy again.
ALWAYS_EXTRA = ('tests/integration/integration_config.yml',)
# Development tooling that is not collection content: the emulator and the
# benchmarks run from the work tree and are checked by ruff and pytest.
EXCLUDE = ('tests/emulator/', 'benchmarks/')


def project_files():
    out = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT, check=True, stdout=subprocess.PIPE).stdout
    names = {name for name in out.decode('utf-8').split('\0') if name and not name.startswith(EXCLUDE)}
    # A tracked file deleted in the work tree is listed but no longer exists.
    return {name for name in names if os.path.isfile(os.path.join(ROOT, name)) or os.path.islink(os.path.join(ROOT, name))}


def same(src, dst):
    try:
        a, b = os.lstat(src), os.lstat(dst)
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime) and a.st_mode == b.st_mode


def copy(rel):
    src, dst = os.path.join(ROOT, rel), os.path.join(DEST, rel)
    if same(src, dst):
        return False
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst):
        os.unlink(dst)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    else:
        shutil.copy2(src, dst)
    return True


def prune(wanted):
    removed = 0
    for dirpath, dirnames, filenames in os.walk(DEST, topdown=True):
        rel_dir = os.path.relpath(dirpath, DEST)
        rel_dir = '' if rel_dir == '.' else rel_dir
        dirnames[:] = [d for d in dirnames if os.path.join(rel_dir, d) not in KEEP]
        for name in filenames:
            rel = os.path.join(rel_dir, name)
            if rel not in wanted:
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    for dirpath, _dirnames, _filenames in os.walk(DEST, topdown=False):
        rel_dir = os.path.relpath(dirpath, DEST)
        if rel_dir != '.' and not rel_dir.startswith(KEEP) and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return removed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('extra', nargs='*', help='ignored files to copy as well (paths relative to the repository)')
    args = parser.parse_args()

    # Replace an earlier symlink to the work tree with a real directory.
    if os.path.islink(DEST):
        os.unlink(DEST)
    os.makedirs(DEST, exist_ok=True)
    if not os.path.isdir(os.path.join(DEST, '.git')):
        subprocess.run(['git', 'init', '-q', DEST], check=True)

    wanted = project_files()
    wanted.update(rel for rel in list(args.extra) + list(ALWAYS_EXTRA) if os.path.isfile(os.path.join(ROOT, rel)))
    copied = sum(copy(rel) for rel in sorted(wanted))
    removed = prune(wanted)
    print('collection copy: %s (%d files, %d updated, %d removed)' % (os.path.relpath(DEST, ROOT), len(wanted), copied, removed))


if __name__ == '__main__':
    sys.exit(main())
