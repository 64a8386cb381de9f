"""Each customer host reads only its own entry of the fleet state, never the whole book.

Ansible templates a variable that holds a dict, recursively, every time a task reads it. The fleet state
holds every customer of the book; a role task that reached it (directly, or through ``hostvars['localhost']``)
cost O(customers) for every task of every host, O(customers^2) for the run. The partner-setup play of
``playbooks/onboard_customers.yml`` hands each host its own entry once; the role's per-task variables and
the onboard play's variables must read only that.
"""

import re
from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[2]
PLAYBOOK = COLLECTION / 'playbooks' / 'onboard_customers.yml'
ROLE = COLLECTION / 'roles' / 'onboard_customer'
WHOLE_BOOK = re.compile(r"hostvars\s*\[\s*['\"]localhost['\"]\s*\]\s*(\.|\[\s*['\"])onboard_fleet_state|"
                        r"\bonboard_fleet_state\b")


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def role_play():
    plays = yaml.safe_load(PLAYBOOK.read_text(encoding='utf-8'))
    found = [play for play in plays if 'cloudpartner.csp.onboard_customer' in str(play.get('tasks'))]
    assert len(found) == 1, 'expected one play running the onboarding role'
    return found[0]


def test_onboard_play_gives_the_role_only_the_hosts_entry():
    play_vars = role_play().get('vars') or {}
    assert 'onboard_customer_fleet_state' in play_vars
    whole = [name for name, value in play_vars.items() for text in strings(value) if WHOLE_BOOK.search(text)]
    assert not whole, 'the onboard play hands the role the whole fleet state in: %s' % whole


@pytest.mark.parametrize('path', sorted(p.relative_to(ROLE).as_posix() for p in ROLE.glob('*/*.yml')))
def test_role_never_reads_the_whole_fleet_state(path):
    text = (ROLE / path).read_text(encoding='utf-8')
    assert not WHOLE_BOOK.search(text), '%s reads the whole fleet state' % path
    assert "hostvars['localhost']" not in text and 'hostvars["localhost"]' not in text, path
