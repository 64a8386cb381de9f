"""The built-in role table: well-known template ids and lookups."""

import re

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils import roles
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError


@pytest.mark.parametrize("name,template", [
    ("Global Administrator", "62e90394-69f5-4237-9190-012177145e10"),
    ("Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"),
    ("Cloud Application Administrator", "158c047a-c907-4556-b7ef-446551a6b5f7"),
    ("Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de"),
    ("Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8"),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    ("Privileged Role Administrator", "e8611ab8-c189-46e8-94e1-60213ab1f814"),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    ("Service Support Administrator", "f023fd81-a637-4b56-95fd-791ac0226033"),
])
def test_known_template_ids(name, template):
    assert roles.BUILTIN_ROLES[name] == template
    assert roles.role_name(template.upper()) == name


def test_table_is_well_formed():
    guid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    assert all(guid.match(v) for v in roles.BUILTIN_ROLES.values())
    assert len(set(roles.BUILTIN_ROLES.values())) == len(roles.BUILTIN_ROLES)
    assert all(name in roles.BUILTIN_ROLES for name in roles.ALIASES.values())


def test_unknown_guid_is_accepted_as_template_id():
    assert roles.resolve_roles(["00000000-1111-2222-3333-444444444444"]) == ["00000000-1111-2222-3333-444444444444"]


def test_unknown_name():
    with pytest.raises(CspValidationError, match="'Admin'"):
        roles.resolve_roles(["Admin"])
