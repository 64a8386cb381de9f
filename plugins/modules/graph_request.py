#!/usr/bin/python
# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: graph_request
short_description: Send a request (or a batch of requests) to Microsoft Graph in any tenant
version_added: 0.1.0
description:
  - Sends one Microsoft Graph request, follows C(@odata.nextLink) paging on request, or sends many requests
    through C($batch) (split into batches of 20, throttled sub-requests retried).
  - The token is for O(tenant_id), which can be the partner tenant or a customer tenant.
  - Throttling (429 with C(Retry-After)) and transient errors are retried.
  - Reads (C(GET), C(HEAD)) report no change. In check mode they still run; writes are not sent and
    RV(would_send) shows what would have been sent.
  - A JMESPath O(query) is compiled before anything is sent, so a typo fails at once. With O(query) only
    its outcome RV(result) comes back, not the response (see O(return_content)); a listing of
    100,000 users answered by a count stays a few hundred bytes.
  - O(dest) writes the items of every page to a file as they arrive (JSON Lines or CSV), so a listing of
    any size costs the same memory; the result is the count and the file's facts, not the items.
author:
  - cloudpartner.csp contributors (@cloudpartner)
extends_documentation_fragment:
  - cloudpartner.csp.connection
  - cloudpartner.csp.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads run; writes are reported in RV(would_send), not sent.
      - With O(dest) the pages are read and compared with the file, which is not written.
  diff_mode:
    support: none
options:
  method:
    description:
      - HTTP method.
    type: str
    choices: [GET, POST, PATCH, PUT, DELETE, HEAD]
    default: GET
  path:
    description:
      - Path relative to the API version (V(/users), V(/groups?$top=5)), a path with the version
        (V(/beta/users)), or a full URL on the Graph endpoint. URLs on other hosts are refused so a token
        is never sent elsewhere.
      - Exactly one of O(path) and O(batch) is required.
    type: str
  api_version:
    description:
      - Graph API version for relative paths and batches.
    type: str
    choices: [v1.0, beta]
    default: v1.0
  params:
    description:
      - Query parameters such as C($filter), C($select), C($top), C($count), C($search).
    type: dict
  headers:
    description:
      - Extra request headers, for example C(ConsistencyLevel) or C(If-Match). C(Authorization) cannot be set.
    type: dict
  body:
    description:
      - Request body; a dict or list is sent as JSON, a string as it is.
    type: raw
  all_pages:
    description:
      - Follow C(@odata.nextLink) (also past pages without items) and return the items of every page in
        RV(value), give them to O(query), or write them to O(dest).
      - Throttled pages (429 with C(Retry-After)) are waited for and read again.
    type: bool
    default: false
  max_pages:
    description:
      - With O(all_pages), stop after this many pages.
    type: int
  batch:
    description:
      - Requests to send through C($batch) instead of O(path). They are sent in batches of 20 (requests
        that depend on each other stay together); throttled ones are sent again after their C(Retry-After).
    type: list
    elements: dict
    suboptions:
      id:
        description: Request id, unique in the list (default the position, from 1).
        type: str
      method:
        description: HTTP method.
        type: str
        default: GET
      url:
        description: Path relative to the API version, for example V(/users/{id}).
        type: str
        required: true
      body:
        description: JSON body.
        type: raw
      headers:
        description: Request headers.
        type: dict
      depends_on:
        description: Ids of requests that must succeed first.
        type: list
        elements: str
  query:
    description:
      - JMESPath expression applied to the result (the items of every page with O(all_pages), the responses
        with O(batch), the response JSON otherwise); its outcome is RV(result).
      - With a query the response itself (RV(json), RV(value)) is not returned unless O(return_content=true).
      - Cannot be used with O(dest).
    type: str
  return_content:
    description:
      - Return the response content, RV(json) and RV(value) (RV(responses) with O(batch)), as well.
      - Default is to return it only when neither O(query) nor O(dest) is set. V(true) with O(query)
        returns both the items and RV(result) (twice the output for a large listing); V(false) without
        O(query) returns only the status, headers and request id (and RV(count) with O(all_pages)).
      - Cannot be V(true) with O(dest).
    type: bool
  dest:
    description:
      - Write the items of the response (of every page with O(all_pages); a response that is not a
        collection as one record) to this file instead of returning them.
      - Each page is written as it arrives, so memory does not grow with the number of pages. The file is
        written to a temporary file in the same directory with mode C(0600) and renamed over O(dest) when
        complete; readers see the old or the new listing, never half of one, and a failed read leaves
        the old file in place.
      - A listing is a read, so the task reports a change only when the file's content changed (or its mode
        was not C(0600)); the same listing again is V(changed=false) and the file is left untouched. In
        check mode the pages are read and compared, and nothing is written.
      - Method C(GET) only; the directory must exist. Cannot be used with O(query) or O(batch).
    type: path
  dest_format:
    description:
      - Format of O(dest). V(jsonl) is JSON Lines, one item per line as Graph sent it.
      - V(csv) has a header row with the properties of the C($select) in O(params), which is then
        required, and one row per item in that order; a missing or null property is an empty cell,
        booleans are V(true)/V(false), objects and lists are JSON in the cell. UTF-8, RFC 4180 quoting.
    type: str
    choices: [jsonl, csv]
    default: jsonl
  status_code:
    description:
      - Statuses that count as success. Default any 2xx status.
      - With O(batch) it applies to every sub-request.
    type: list
    elements: int
  fresh_token:
    description:
      - Use a new access token instead of a cached one (for example to prove access right after consent).
    type: bool
    default: false
seealso:
  - module: cloudpartner.csp.token
  - plugin: cloudpartner.csp.graph
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: All users of a customer tenant, only their sign-in names
  cloudpartner.csp.graph_request:
    tenant_id: 30000000-0000-4000-8000-000000000001
    path: /users
    params:
      $select: id,userPrincipalName
    all_pages: true
    query: "[].userPrincipalName"
  register: users

- name: How many users a customer tenant has (only the count comes back, however many there are)
  cloudpartner.csp.graph_request:
    tenant_id: 30000000-0000-4000-8000-000000000001
    path: /users
    params:
      $select: id
      $top: 999
    all_pages: true
    query: length(@)
  register: user_count

- name: Every user of a customer tenant into a CSV file (memory stays flat; changed only if the list changed)
  cloudpartner.csp.graph_request:
    tenant_id: 30000000-0000-4000-8000-000000000001
    path: /users
    params:
      $select: id,userPrincipalName,accountEnabled
      $top: 999
    all_pages: true
    dest: /var/lib/csp/reports/users.csv
    dest_format: csv
  register: users_file  # users_file.count, users_file.dest, users_file.checksum

- name: The AdminAgents group of the partner tenant
  cloudpartner.csp.graph_request:
    path: /groups
    params:
      $filter: "displayName eq 'AdminAgents'"
  register: admin_agents

- name: Add a service principal to AdminAgents, already-a-member is fine
  cloudpartner.csp.graph_request:
    method: POST
    path: "/groups/{{ admin_agents.json.value[0].id }}/members/$ref"
    body:
      "@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{{ sp_id }}"
    status_code: [204, 400]

- name: Several reads in one round trip
  cloudpartner.csp.graph_request:
    batch:
      - id: me
        url: /organization
      - id: apps
        url: /servicePrincipals?$select=appId&$top=999
  register: batch

- name: Count with an advanced query
  cloudpartner.csp.graph_request:
    path: /users/$count
    headers:
      ConsistencyLevel: eventual
"""

RETURN = r"""
status:
  description: HTTP status of the response (of the last page with O(all_pages)).
  returned: when O(path) is used and the request was sent
  type: int
  sample: 200
json:
  description:
    - The response JSON.
    - With O(all_pages) the first page's members other than C(value) and C(@odata.nextLink), for example
      C(@odata.context) and C(@odata.count); the items are in RV(value) only.
  returned: when O(path) is used, the request was sent, the response has a JSON body and the content is
    returned (see O(return_content))
  type: raw
value:
  description: The items (C(value)) of the response, of every page with O(all_pages).
  returned: when the response has a C(value) list (always with O(all_pages)) and the content is returned
    (see O(return_content))
  type: list
  elements: raw
pages:
  description: Number of pages read (pages without items count).
  returned: when O(all_pages=true) or O(dest) is used
  type: int
  sample: 3
count:
  description: Number of items read (written to O(dest) with O(dest)).
  returned: when O(all_pages=true) or O(dest) is used
  type: int
  sample: 100000
dest:
  description: The file the items were written to (or, in check mode, compared with).
  returned: when O(dest) is used
  type: str
  sample: /var/lib/csp/reports/users.csv
size:
  description: Size of the listing in bytes.
  returned: when O(dest) is used
  type: int
  sample: 4000037
checksum:
  description: SHA-1 of the listing, as C(ansible.builtin.stat) reports a file's checksum.
  returned: when O(dest) is used
  type: str
  sample: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
result:
  description: The outcome of O(query).
  returned: when O(query) is set
  type: raw
headers:
  description: Response headers (lower case names).
  returned: when O(path) is used and the request was sent
  type: dict
request_id:
  description: Graph's request id (give it to Microsoft support).
  returned: when O(path) is used and the request was sent
  type: str
responses:
  description: Responses of O(batch) in request order, each with C(id), C(status), C(headers), C(body).
  returned: when O(batch) is used and sent and the content is returned (see O(return_content)), and on
    failure
  type: list
  elements: dict
would_send:
  description: In check mode, the write that was not sent (method, url, body; the batch requests for O(batch)).
  returned: in check mode for writes
  type: dict
error:
  description: Microsoft's error when the module failed (C(code) is Graph's C(error.code)).
  returned: on failure
  type: dict
  contains:
    code:
      description: Graph's error code, for example C(Request_ResourceNotFound).
      type: str
    message:
      description: Graph's message.
      type: str
    request_id:
      description: Graph's request id.
      type: str
    status:
      description: HTTP status.
      type: int
"""

import json

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.listing import (
    FORMATS,
    ListingFile,
    check_dest,
    page_records,
    select_columns,
)
from ansible_collections.cloudpartner.csp.plugins.module_utils.module import CspModule
from ansible_collections.cloudpartner.csp.plugins.module_utils.query import apply_query, compile_query

READS = ("GET", "HEAD")


def argument_spec():
    return dict(
        method=dict(type="str", default="GET", choices=["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]),
        path=dict(type="str"),
        api_version=dict(type="str", default="v1.0", choices=["v1.0", "beta"]),
        params=dict(type="dict"),
        headers=dict(type="dict"),
        body=dict(type="raw"),
        all_pages=dict(type="bool", default=False),
        max_pages=dict(type="int"),
        batch=dict(type="list", elements="dict", options=dict(
            id=dict(type="str"),
            method=dict(type="str", default="GET"),
            url=dict(type="str", required=True),
            body=dict(type="raw"),
            headers=dict(type="dict"),
            depends_on=dict(type="list", elements="str"),
        )),
        query=dict(type="str"),
        status_code=dict(type="list", elements="int"),
        fresh_token=dict(type="bool", default=False, no_log=False),
        return_content=dict(type="bool"),
        dest=dict(type="path"),
        dest_format=dict(type="str", default="jsonl", choices=list(FORMATS)),
    )


def check_headers(headers):
    for name in headers or {}:
        if str(name).lower() == "authorization":
            raise CspValidationError("headers cannot set Authorization; the module sends the token itself",
                                     code="InvalidHeaders")
    return {str(k): str(v) for k, v in (headers or {}).items()}


def body_args(body):
    if body is None:
        return {}
    if isinstance(body, str):
        try:
            return {"body": json.loads(body)}
        except ValueError:
            return {"raw_body": body}
    return {"body": body}


def response_headers(response):
    return {str(k).lower(): v for k, v in dict(response.headers).items()} if response is not None else {}


def wants_content(params):
    """Whether the response content (json, value; responses of a batch) is returned: asked for, or
    nothing else asked (no query, no dest)."""
    if params["return_content"] is not None:
        return params["return_content"]
    return params["query"] is None and params["dest"] is None


def run_single(module, graph, compiled):
    params = module.params
    method = params["method"]
    headers = check_headers(params["headers"])
    url = graph.url(params["path"], name="path")  # refuses foreign hosts before anything is sent
    if method not in READS and module.check_mode:
        would = {"method": method, "url": url}
        if params["params"]:
            would["params"] = params["params"]
        if params["body"] is not None:
            would["body"] = params["body"]
        return dict(changed=True, would_send=would)
    if params["dest"]:
        return run_to_file(module, graph, url, headers)
    if params["all_pages"]:
        return run_all_pages(module, graph, compiled, url, headers)
    response = graph.request(method, url, params=params["params"], headers=headers,
                             expected_status=params["status_code"], **body_args(params["body"]))
    result = dict(changed=method not in READS and 200 <= response.status < 300,  # an accepted failure status
                  status=response.status, request_id=response.request_id, headers=response_headers(response))
    if response.json is not None and wants_content(params):
        result["json"] = response.json
        if isinstance(response.json, dict) and isinstance(response.json.get("value"), list):
            result["value"] = response.json["value"]
    if compiled is not None:
        result["result"] = apply_query(compiled, response.json)
    return result


def run_all_pages(module, graph, compiled, url, headers):
    """Every page's items in one list (the query needs them together), returned or queried, never both
    unless asked; RV(json) keeps the first page's other members (C(@odata.count), C(@odata.context))."""
    params = module.params
    first, items, pages = None, [], 0
    for page in graph.iter_pages(url, params=params["params"], headers=headers, max_pages=params["max_pages"]):
        pages += 1
        if first is None:
            first = {k: v for k, v in page.items() if k not in ("value", "@odata.nextLink")}
        items.extend(page_records(page))
    last = graph.last_response
    result = dict(changed=False, status=last.status if last else 200, pages=pages, count=len(items),
                  request_id=last.request_id if last else None, headers=response_headers(last))
    if compiled is not None:
        result["result"] = apply_query(compiled, items)
    if wants_content(params):
        result.update(json=first or {}, value=items)
    return result


def run_to_file(module, graph, url, headers):
    """Every page's items straight into O(dest); only the count and the file's facts come back."""
    params = module.params
    pages = 0
    with ListingFile(params["dest"], fmt=params["dest_format"], columns=select_columns(params["params"]),
                     write=not module.check_mode) as listing:
        for page in graph.iter_pages(url, params=params["params"], headers=headers,
                                     max_pages=params["max_pages"] if params["all_pages"] else 1):
            pages += 1
            listing.add(page_records(page))
        changed = listing.finish()
    last = graph.last_response
    result = dict(changed=changed, pages=pages, status=last.status if last else 200,
                  request_id=last.request_id if last else None, headers=response_headers(last))
    result.update(listing.result())
    return result


def run_batch(module, graph, compiled):
    params = module.params
    requests = graph.normalize_batch([dict((k, v) for k, v in r.items() if v is not None) for r in params["batch"]])
    writes = [r for r in requests if r["method"] not in READS]
    if writes and module.check_mode:
        return dict(changed=True, would_send={"method": "POST", "url": graph.url("/$batch"), "requests": requests})
    responses = list(graph.batch(requests).values())
    expected = params["status_code"]
    failed = [r for r in responses if not (r["status"] in expected if expected else 200 <= (r["status"] or 0) < 300)]
    if failed:
        first = failed[0]
        body = first.get("body") if isinstance(first.get("body"), dict) else {}
        err = body.get("error") or {}
        raise CspErrorWithResponses(
            "batch request %s failed with status %s: %s" % (first["id"], first["status"], err.get("message") or ""),
            code=err.get("code") or str(first["status"]), status=first["status"],
            request_id=(err.get("innerError") or {}).get("request-id"), responses=responses)
    by_id = {r["id"]: r for r in requests}
    changed = any(by_id[r["id"]]["method"] not in READS and 200 <= (r["status"] or 0) < 300 for r in responses)
    result = dict(changed=changed)
    if wants_content(params):
        result["responses"] = responses
    if compiled is not None:
        result["result"] = apply_query(compiled, responses)
    return result


class CspErrorWithResponses(CspError):
    service = "graph"
    kind = "http"

    def __init__(self, message, responses=None, **kwargs):
        super().__init__(message, **kwargs)
        self.responses = responses


def main():
    module = CspModule(
        argument_spec=argument_spec(),
        required_libraries=("requests", "msal", "jmespath"),
        required_one_of=[("path", "batch")],
        mutually_exclusive=[("path", "batch"), ("batch", "all_pages"), ("batch", "body"), ("dest", "batch"),
                            ("dest", "query"), ("dest", "body")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        compiled = compile_query(params["query"])
        if params["max_pages"] is not None and params["max_pages"] < 1:
            raise CspValidationError("max_pages must be at least 1", code="InvalidOption")
        if params["all_pages"] and params["method"] != "GET":
            raise CspValidationError("all_pages works with method GET only", code="InvalidOption")
        if params["dest"]:
            if params["method"] != "GET":
                raise CspValidationError("dest works with method GET only", code="InvalidOption")
            if params["return_content"]:
                raise CspValidationError("dest writes the items to a file; return_content cannot return them "
                                         "as well", code="InvalidOption")
            check_dest(params["dest"], params["dest_format"], params["params"])
        graph = module.client.graph(api_version=params["api_version"], fresh_token=params["fresh_token"])
        if params["batch"]:
            result = run_batch(module, graph, compiled)
        else:
            result = run_single(module, graph, compiled)
    except CspErrorWithResponses as err:
        module.fail_from_error(err, responses=err.responses)
    except CspError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
