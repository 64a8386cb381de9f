"""first_error: the first failed loop item's Microsoft code and message, not "One or more items failed"."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cloudpartner.csp.plugins.filter.first_error import FilterModule, first_error


def test_first_failed_item_of_a_loop():
    looped = {"failed": True, "msg": "One or more items failed", "results": [
        {"changed": False, "item": "a"},
        {"failed": True, "msg": "graph HTTP 403 ...", "_ansible_item_label": "GDAP Admins",
         "error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges", "status": 403,
                   "request_id": "rid-1", "service": "graph"}},
        {"failed": True, "msg": "second", "error": {"code": "Other"}},
    ]}
    out = first_error(looped)
    assert out["code"] == "Authorization_RequestDenied" and out["message"] == "Insufficient privileges"
    assert out["request_id"] == "rid-1" and out["item"] == "GDAP Admins" and out["failed_items"] == 2


def test_plain_failure_and_success():
    out = first_error({"failed": True, "msg": "boom", "error": {"code": "X", "message": "Microsoft says"}})
    assert out["code"] == "X" and out["message"] == "Microsoft says" and out["failed_items"] == 1
    assert first_error({"failed": True, "msg": "no structure"})["message"] == "no structure"
    assert first_error({"changed": True})["failed_items"] == 0


def test_refuses_what_is_no_result():
    with pytest.raises(AnsibleFilterError):
        first_error("text")
    assert FilterModule().filters()["first_error"] is first_error


def test_item_named_by_a_module_that_acts_on_several():
    out = first_error({"failed": True, "msg": "no group", "error": {"code": "GroupNotFound", "message": "no group",
                                                                    "details": {"item": "No Such Group"}}})
    assert out["item"] == "No Such Group" and out["code"] == "GroupNotFound"
