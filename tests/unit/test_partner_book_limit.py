"""A play limited to some customers reads only theirs: one expression, in playbooks/vars/partner_book.yml.

``partner_book_customers`` compares the play's hosts with the hosts its pattern names in the inventory, so
every play that loads it must name its own pattern in ``partner_book_hosts``, and every book read of those
plays must pass it to partner_book_info's ``customers``. The fleet report runs on the customers and
localhost (a limit naming customers only still runs it; without an inventory it runs on localhost), each task
once. The integration targets fleet_report and onboard_customers are the witnesses on the wire.
"""

from pathlib import Path

import pytest
import yaml

COLLECTION = Path(__file__).resolve().parents[2]
PLAYBOOKS = COLLECTION / 'playbooks'
SHARED = 'vars/partner_book.yml'
CUSTOMERS = '{{ partner_book_customers or omit }}'


def book_plays():
    for path in sorted(PLAYBOOKS.glob('*.yml')):
        for play in yaml.safe_load(path.read_text(encoding='utf-8')) or []:
            if SHARED in (play.get('vars_files') or []) and 'partner_book_info' in str(play.get('tasks')):
                yield path.name, play


def book_reads(play):
    return [task for task in play.get('tasks') or [] if 'cloudpartner.csp.partner_book_info' in task]


@pytest.mark.parametrize('name', ['fleet_report.yml', 'onboard_customers.yml'])
def test_book_reading_playbooks_use_the_shared_limit(name):
    assert name in dict(book_plays())


@pytest.mark.parametrize('name,play', [pytest.param(name, play, id=name) for name, play in book_plays()])
def test_book_read_narrowed_to_the_plays_customers(name, play):
    assert play['vars']['partner_book_hosts'] == play['hosts'], (
        '%s: partner_book_hosts must be the play\'s own host pattern' % name)
    reads = book_reads(play)
    assert reads, name
    for task in reads:
        assert task['cloudpartner.csp.partner_book_info'].get('customers') == CUSTOMERS, (name, task['name'])


def test_the_expression_lives_in_the_shared_vars_file_only():
    shared = yaml.safe_load((PLAYBOOKS / SHARED).read_text(encoding='utf-8'))
    assert 'ansible_play_hosts_all' in shared['partner_book_customers']
    for name, play in book_plays():
        assert 'ansible_play_hosts_all' not in str(play.get('vars')), (
            '%s computes its own customer list; use partner_book_customers' % name)


def test_fleet_report_runs_on_the_customers_once():
    play = dict(book_plays())['fleet_report.yml']
    assert play['run_once'] is True
    assert play['hosts'] == "{{ fleet_report_hosts | default('all:localhost') }}"
    for task in play['tasks']:
        if any(key.startswith(('cloudpartner.csp.', 'ansible.builtin.file', 'ansible.builtin.copy',
                               'ansible.builtin.template')) for key in task):
            assert task.get('delegate_to') == 'localhost', task['name']
