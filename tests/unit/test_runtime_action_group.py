"""meta/runtime.yml's action group `csp` lists exactly the modules, and every module says so in its docs.

`module_defaults: {group/cloudpartner.csp.csp: ...}` only reaches the modules
named in the group, so a module missing from it silently loses its auth
settings. The documentation side is read through ansible-doc, which merges
the doc fragments the way users see them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[2]
MODULES_DIR = COLLECTION / 'plugins' / 'modules'
GROUP = 'cloudpartner.csp.csp'


def module_names():
    if not MODULES_DIR.is_dir():
        return []
    return sorted(p.stem for p in MODULES_DIR.glob('*.py') if not p.name.startswith('_'))


def action_group():
    runtime = yaml.safe_load((COLLECTION / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    return runtime.get('action_groups', {}).get('csp', [])


def test_requires_ansible_is_declared():
    runtime = yaml.safe_load((COLLECTION / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    assert runtime.get('requires_ansible', '').startswith('>=')


def test_action_group_lists_exactly_the_modules():
    group = action_group()
    assert len(group) == len(set(group)), 'duplicate entries in action_groups.csp: %s' % group
    missing = sorted(set(module_names()) - set(group))
    unknown = sorted(set(group) - set(module_names()))
    assert not missing, 'modules missing from meta/runtime.yml action_groups.csp: %s' % missing
    assert not unknown, 'action_groups.csp names modules that do not exist: %s' % unknown


@pytest.fixture(scope='module')
def module_docs():
    names = module_names()
    if not names:
        pytest.skip('no modules yet')
    # The collection must sit at <path>/ansible_collections/cloudpartner/csp for ansible-doc.
    if COLLECTION.parents[1].name != 'ansible_collections':
        pytest.skip('run from the collection copy (make units), not from the work tree')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTION.parents[2]), ANSIBLE_NOCOLOR='1')
    ansible_doc = Path(sys.executable).with_name('ansible-doc')
    proc = subprocess.run([str(ansible_doc), '--json', '-t', 'module'] + ['cloudpartner.csp.%s' % n for n in names],
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize('name', module_names())
def test_module_documents_its_action_group(module_docs, name):
    doc = module_docs['cloudpartner.csp.%s' % name]['doc']
    attribute = doc.get('attributes', {}).get('action_group')
    assert attribute, '%s: no attributes.action_group in its documentation' % name
    assert GROUP in attribute.get('membership', []), '%s: attributes.action_group.membership lacks %s' % (name, GROUP)


def connection_options():
    # The shared connection options, read from the doc fragment the modules extend.
    namespace = {}
    source = (COLLECTION / 'plugins' / 'doc_fragments' / 'connection.py').read_text(encoding='utf-8')
    exec(compile(source, 'connection.py', 'exec'), namespace)  # noqa: S102 - our own doc fragment, no imports
    return set(yaml.safe_load(namespace['ModuleDocFragment'].DOCUMENTATION)['options'])


@pytest.mark.parametrize('name', module_names())
def test_module_accepts_the_group_defaults(module_docs, name):
    # module_defaults for group/cloudpartner.csp.csp hands every connection option
    # to every module of the group; a module that rejects one breaks the whole group.
    options = set(module_docs['cloudpartner.csp.%s' % name]['doc'].get('options', {}))
    missing = sorted(connection_options() - options)
    assert not missing, '%s does not accept connection options %s, so module_defaults group/%s fails on it' % (name, missing, GROUP)
