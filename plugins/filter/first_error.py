# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``first_error``: Microsoft's code and message of a failed task, or of the first failed item of a looped one
(or of a module that acts on several items in one run and names the failed one in ``error.details.item``).

A looped task that fails says only "One or more items failed"; the item results carry the module's
structured ``error`` (Graph ``error.code``, Partner Center ``code``, ``AADSTS...``). This filter reads
that structure, so a role's ``rescue`` never parses message text.
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text


def _one(result):
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    return {
        "code": error.get("code"),
        "message": to_text(error.get("message") or result.get("msg") or ""),
        "status": error.get("status"),
        "request_id": error.get("request_id"),
        "service": error.get("service"),
        "details": error.get("details"),
    }


def first_error(result):
    """``{code, message, status, request_id, service, details, item, failed_items}``; all None when nothing failed."""
    if not isinstance(result, dict):
        raise AnsibleFilterError("first_error expects a registered task result (a dict), got %s"
                                 % type(result).__name__)
    items = result.get("results")
    if isinstance(items, list):
        failed = [r for r in items if isinstance(r, dict) and r.get("failed")]
        if failed:
            out = _one(failed[0])
            label = failed[0].get("_ansible_item_label", failed[0].get("item"))
            out.update(item=label, failed_items=len(failed))
            return out
    if not result.get("failed"):
        return {"code": None, "message": None, "status": None, "request_id": None, "service": None,
                "details": None, "item": None, "failed_items": 0}
    out = _one(result)
    # a module acting on several items in one run names the one it failed on in its error's details
    out.update(item=(out["details"] or {}).get("item") if isinstance(out["details"], dict) else None,
               failed_items=1)
    return out


class FilterModule:
    def filters(self):
        return {"first_error": first_error}
