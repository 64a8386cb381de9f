# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Partner Center REST API (``/v1``): requests, continuation-token paging, its error body."""

import uuid
from urllib.parse import urljoin, urlsplit

from .errors import CspValidationError
from .http import check_relative_path, error_from_response, status_expected


class PartnerCenterResponse:
    def __init__(self, status, headers, json, request_id=None, correlation_id=None):
        self.status = status
        self.headers = headers
        self.json = json
        self.request_id = request_id
        self.correlation_id = correlation_id


class PartnerCenterClient:
    """Partner Center calls with the partner's token (app+user by default, as most operations need)."""

    def __init__(self, http, token_provider, endpoint, tenant=None, correlation_id=None, grant=None):
        if not endpoint:
            raise CspValidationError("partner_center_endpoint is not known for this cloud; set it",
                                     code="MissingEndpoint")
        self.http = http
        self.tokens = token_provider
        self.endpoint = endpoint.rstrip("/")
        self.base = self.endpoint + "/v1/"
        self.tenant = tenant
        self.grant = grant
        # One correlation id per client (one module run) ties its requests together in Microsoft's logs
        self.correlation_id = correlation_id or str(uuid.uuid4())

    def url(self, path_or_url):
        """Absolute URL for a path or a full URL (a continuation link), which must be https:// on the
        Partner Center endpoint: the bearer token is only ever sent there, and only over TLS."""
        text = str(path_or_url).strip()
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme.lower() != "https" or parts.netloc.lower() != urlsplit(self.endpoint).netloc.lower():
                raise CspValidationError("URL %s is not on the Partner Center endpoint %s; a token is only sent there"
                                         % (text.split("?", maxsplit=1)[0], self.endpoint), code="ForeignUrl")
            check_relative_path(parts.path)
            return text
        check_relative_path(text)
        text = text.lstrip("/")
        if text.startswith("v1/"):
            text = text[3:]
        return urljoin(self.base, text)

    def request(self, method, path, params=None, body=None, headers=None, expected_status=None,
                request_id=None, fresh_token=False):
        """One call. ``request_id`` (MS-RequestId) makes a retried POST idempotent on Microsoft's side."""
        method = method.upper()
        token = self.tokens.get_token(tenant=self.tenant, resource="partner_center", fresh=fresh_token,
                                      grant=self.grant)
        all_headers = {
            "Authorization": "Bearer " + token.token,
            "Accept": "application/json",
            "MS-CorrelationId": self.correlation_id,
            "MS-RequestId": request_id or str(uuid.uuid4()),
        }
        all_headers.update(headers or {})
        kwargs = {"json": body} if body is not None else {}
        url = self.url(path)
        # With an MS-RequestId, Partner Center deduplicates, so even a POST may be retried.
        response = self.http.send(method, url, headers=all_headers, params=params or None,
                                  idempotent=True if request_id else None, **kwargs)
        if not status_expected(response.status_code, expected_status):
            raise error_from_response(response, "partner_center", action="%s %s" % (method, url.split("?", maxsplit=1)[0]))
        return PartnerCenterResponse(response.status_code, response.headers, response.json(),
                                     response.headers.get("MS-RequestId") or all_headers["MS-RequestId"],
                                     self.correlation_id)

    def iter_pages(self, path, params=None, max_pages=None):
        """Yield each page; the next one is ``links.next`` (uri + MS-ContinuationToken header)."""
        url, page_params, headers, count = path, params, None, 0
        while url:
            page = self.request("GET", url, params=page_params, headers=headers).json or {}
            count += 1
            yield page
            nxt = ((page.get("links") or {}).get("next")) or {}
            if not nxt.get("uri") or (max_pages and count >= max_pages):
                return
            url, page_params = nxt["uri"], None
            headers = {h["key"]: h["value"] for h in nxt.get("headers") or [] if "key" in h}

    def paginate(self, path, params=None, max_pages=None):
        for page in self.iter_pages(path, params=params, max_pages=max_pages):
            yield from page.get("items") or []

    def get_all(self, path, params=None, max_pages=None):
        return list(self.paginate(path, params=params, max_pages=max_pages))
