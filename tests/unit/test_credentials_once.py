"""Roles and playbooks give the modules their credentials once per block, through module_defaults.

A module task of the collection in these files names no credential option itself; the only exception is
``"{{ omit }}"``, which keeps the integration user's refresh token away from a step that needs an app-only
token. The credentials are stated once (module_defaults of a block or play), so a new task cannot forget one
and a secret has one place to be checked for no_log, facts and loop items.
"""

from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[2]
FILES = [
    'roles/partner_app/tasks/main.yml',
    'roles/offboard_customer/tasks/main.yml',
    'playbooks/migrate_dap_to_gdap.yml',
]
CREDENTIALS = {'client_secret', 'client_certificate_path', 'refresh_token', 'refresh_token_store'}
OMIT = '{{ omit }}'


def module_tasks(tasks):
    for task in tasks or []:
        for key in ('block', 'rescue', 'always', 'tasks'):
            yield from module_tasks(task.get(key))
        for action, args in task.items():
            if action.startswith('cloudpartner.csp.') and isinstance(args, dict):
                yield task.get('name', action), args


def defaults_with_credentials(tasks):
    for task in tasks or []:
        for key in ('block', 'rescue', 'always', 'tasks'):
            yield from defaults_with_credentials(task.get(key))
        for entry in (task.get('module_defaults') or {}).values():
            if CREDENTIALS & set(entry or {}):
                yield entry


@pytest.mark.parametrize('path', FILES)
def test_module_tasks_name_no_credentials(path):
    tasks = yaml.safe_load((COLLECTION / path).read_text(encoding='utf-8'))
    found = list(module_tasks(tasks))
    assert found, 'no module task found in %s' % path
    repeated = sorted('%s: %s' % (name, key) for name, args in found for key in CREDENTIALS & set(args)
                      if args[key] != OMIT)
    assert not repeated, 'credentials on the task instead of module_defaults: %s' % repeated
    assert list(defaults_with_credentials(tasks)), 'no module_defaults with the credentials in %s' % path
