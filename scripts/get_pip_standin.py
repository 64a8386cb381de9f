#!/usr/bin/env python
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test creates each sanity/units virtual environment without pip and then
runs ``get-pip-<ver>.py`` from its cache (``~/.ansible/test/cache``) or from a
CI file host that is unreachable here. This file plays both roles:

* ``python scripts/get_pip_standin.py --install-cache`` copies this file into
  ansible-test's cache under the name the installed ansible-test looks for.
* When ansible-test runs it (as the cached get-pip script), it runs pip from
  the wheel bundled with the interpreter's ensurepip to install what was
  asked for (the pinned pip) from the package index configured for this
  machine; without a bundled wheel it falls back to ensurepip in a child
  process.
"""

import glob
import os
import subprocess
import sys
import types

CACHE_DIR = os.path.expanduser('~/.ansible/test/cache')

# Options understood by get-pip.py but not by ``pip install``.
GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def ansible_test_pip_versions():
    """Return the pip versions the installed ansible-test bootstraps."""
    try:
        from ansible_test._internal.python_requirements import get_venv_packages
    except ImportError:
        sys.exit('ansible-test is not installed in this interpreter: %s' % sys.executable)
    versions = set()
    # The version may differ per target Python; ask for every supported one.
    for minor in range(8, 15):
        versions.add(get_venv_packages(types.SimpleNamespace(version='3.%d' % minor))['pip'])
    return sorted(versions)


def install_cache():
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(__file__, 'rb') as src:
        content = src.read()
    for version in ansible_test_pip_versions():
        target = os.path.join(CACHE_DIR, 'get_pip_%s.py' % version.replace('.', '_'))
        try:
            with open(target, 'rb') as existing:
                if existing.read() == content:
                    continue
        except FileNotFoundError:
            pass
        tmp = target + '.tmp'
        with open(tmp, 'wb') as dst:
            dst.write(content)
        os.replace(tmp, target)
        print('installed get-pip stand-in: %s' % target)


def bundled_pip_wheel():
    """Return the pip wheel that ships with this interpreter's ensurepip, if any."""
    try:
        import ensurepip
    except ImportError:
        return None
    wheels = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled', 'pip-*.whl'))
    return wheels[0] if wheels else None


def bootstrap(args):
    pip_args = [arg for arg in args if arg not in GET_PIP_ONLY_OPTIONS]
    wheel = bundled_pip_wheel()
    if not any(not arg.startswith('-') for arg in pip_args):
        # Nothing named: install the bundled pip itself.
        pip_args.append(wheel or 'pip')
    if wheel:
        # pip runs straight from its wheel: one install of the requested pip
        # instead of installing the bundled one first and then replacing it.
        subprocess.check_call([sys.executable, os.path.join(wheel, 'pip'), 'install'] + pip_args)
        return
    # ensurepip points PIP_CONFIG_FILE at /dev/null in its own process environment;
    # running it in a child keeps the machine's pip configuration (index, CA file)
    # in effect for the install below.
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + pip_args)


def main():
    if sys.argv[1:] == ['--install-cache']:
        install_cache()
    else:
        bootstrap(sys.argv[1:])


if __name__ == '__main__':
    main()
