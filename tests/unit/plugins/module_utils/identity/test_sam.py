"""SAM health classification and the device code state file."""

import os

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity import sam
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspAuthError
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import RefreshTokenStoreError


@pytest.mark.parametrize("code, status, action", [
    ("AADSTS700082", "expired", "redo_consent"),
    ("AADSTS50173", "revoked", "redo_consent"),
    ("AADSTS70043", "conditional_access", "review_conditional_access"),
    ("AADSTS53003", "conditional_access", "review_conditional_access"),
    ("AADSTS50076", "mfa_required", "redo_consent_with_mfa"),
    ("AADSTS65001", "consent_missing", "grant_consent"),
    ("AADSTS90099", "consent_missing", "grant_consent"),
    ("AADSTS7000222", "credential_expired", "rotate_app_credential"),
])
def test_classify_aadsts(code, status, action):
    health = sam.classify(CspAuthError("failed", code=code))
    assert (health["status"], health["action"], health["code"]) == (status, action, code)
    assert health["action_text"] == sam.ACTIONS[action]


def test_classify_success_and_expiring():
    assert sam.classify(None, days_left=80)["status"] == "ok"
    expiring = sam.classify(None, days_left=5, warn_days=14)
    assert (expiring["status"], expiring["action"]) == ("expiring", "renew")


def test_classify_store_errors():
    empty = sam.classify(RefreshTokenStoreError("nothing", code="RefreshTokenStoreEmpty"))
    assert (empty["status"], empty["action"]) == ("not_consented", "redo_consent")
    other = sam.classify(RefreshTokenStoreError("locked", code="RefreshTokenStoreLocked"))
    assert (other["status"], other["action"]) == ("store_error", "investigate")


def test_classify_unknown_error():
    assert sam.classify(CspAuthError("odd", code="AADSTS1234567"))["status"] == "error"


def test_device_flow_state_file_is_private_and_public_view_has_no_device_code(tmp_path):
    path = str(tmp_path / "flows" / "flow.json")
    flow = sam.DeviceFlow({"device_code": "DAQABAAEAAA-secret-device-code", "user_code": "ABCDEFGHJ",
                           "verification_uri": "https://microsoft.com/devicelogin", "message": "go",
                           "expires_at": 2000000000, "interval": 5, "tenant": "t"})
    flow.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    loaded = sam.DeviceFlow.load(path)
    assert loaded.data["device_code"] == "DAQABAAEAAA-secret-device-code"
    assert "device_code" not in loaded.public() and "DAQ" not in str(loaded.public())
    assert not loaded.expired(now=1999999999) and loaded.expired(now=2000000000)
    sam.DeviceFlow.remove(path)
    assert sam.DeviceFlow.load(path) is None


def test_flow_path_differs_per_tenant_and_app(tmp_path):
    a = sam.flow_path_for(str(tmp_path), "https://login", "t1", "app")
    b = sam.flow_path_for(str(tmp_path), "https://login", "t2", "app")
    assert a != b and a.startswith(str(tmp_path))
