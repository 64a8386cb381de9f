"""meta/runtime.yml's action group `csp` lists exactly the modules, and every module says so in its docs.

`module_defaults: {group/cloudpartner.csp.csp: ...}` only reaches the modules
named in the group, so a module missing from it silently loses its auth
settings. The documentation is read with its doc fragments merged, as
ansible-doc shows it.
"""

import json
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


# Reads each module's documentation with its doc fragments merged, the way
# ansible-doc shows it, in one child process (the collection loader it needs
# must not be installed in the test process). One broken module reports an
# error for itself only.
READ_DOCS = """
import json, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring
docs = {}
for path in sys.argv[2:]:
    try:
        docs[path] = {'doc': get_docstring(path, fragment_loader, collection_name='cloudpartner.csp', plugin_type='module')[0]}
    except Exception as exc:
        docs[path] = {'error': str(exc)}
print(json.dumps(docs, default=str))
"""


@pytest.fixture(scope='module')
def module_docs():
    names = module_names()
    if not names:
        pytest.skip('no modules yet')
    # The collection loader needs the collection at <path>/ansible_collections/cloudpartner/csp.
    if COLLECTION.parents[1].name != 'ansible_collections':
        pytest.skip('run from the collection copy (make units), not from the work tree')
    paths = [str(MODULES_DIR / ('%s.py' % n)) for n in names]
    proc = subprocess.run([sys.executable, '-c', READ_DOCS, str(COLLECTION.parents[2])] + paths,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    return {name: docs[path] for name, path in zip(names, paths, strict=True)}


def doc_of(module_docs, name):
    entry = module_docs[name]
    assert 'error' not in entry, 'cannot read the documentation of %s: %s' % (name, entry.get('error'))
    return entry['doc']


@pytest.mark.parametrize('name', module_names())
def test_module_documents_its_action_group(module_docs, name):
    doc = doc_of(module_docs, name)
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
    options = set(doc_of(module_docs, name).get('options', {}))
    missing = sorted(connection_options() - options)
    assert not missing, '%s does not accept connection options %s, so module_defaults group/%s fails on it' % (name, missing, GROUP)
