"""TokenProvider with refresh_token_store: the refresh token moves only between the store and MSAL."""

import json
import os

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.provider import TokenProvider
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspAuthError, CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.refresh_token_store import FileRefreshTokenStore
from ansible_collections.cloudpartner.csp.plugins.module_utils.identity.sam import SamClient

import csp_fakes
from csp_fakes import CUSTOMER, PARTNER, RT_SEED


def token_posts(session):
    return session.count("POST", r"/oauth2/v2\.0/token")


def seeded_store(tmp_path, token=RT_SEED):
    path = str(tmp_path / "rt.json")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return path


def provider(session, **overrides):
    return TokenProvider(csp_fakes.options(**overrides).validate(), csp_fakes.make_http(session))


def test_each_exchange_stores_the_new_token_and_cached_tokens_need_none(session, idp, tmp_path):
    path = seeded_store(tmp_path)
    tp = provider(session, refresh_token_store=path, token_cache_path=str(tmp_path / "cache"))
    first = tp.get_token()
    assert first.grant == "refresh_token" and first.refresh_token is None
    stored = FileRefreshTokenStore(path).load()
    assert stored.version == 1 and stored.token.startswith("rotated-") and stored.token in idp.refresh_tokens
    assert stored.metadata["user"] == "integration@contoso.onmicrosoft.com"
    # the same token again: from the cache, no exchange, the store does not move
    again = provider(session, refresh_token_store=path, token_cache_path=str(tmp_path / "cache")).get_token()
    assert again.token_source == "cache" and token_posts(session) == 1
    assert FileRefreshTokenStore(path).load().version == 1
    # another tenant: an exchange of the newest stored token
    provider(session, refresh_token_store=path, token_cache_path=str(tmp_path / "cache")).get_token(tenant=CUSTOMER)
    after = FileRefreshTokenStore(path).load()
    assert after.version == 2 and after.previous_version == 1
    posts = [c for c in session.calls if c.method == "POST"]
    assert "refresh_token=%s" % stored.token in posts[-1].data or posts[-1].data.get("refresh_token") == stored.token


def test_the_token_cache_file_never_holds_a_refresh_token(session, idp, tmp_path):
    path = seeded_store(tmp_path)
    tp = provider(session, refresh_token_store=path, token_cache_path=str(tmp_path / "cache"))
    tp.get_token()
    tp.get_token(tenant=CUSTOMER, fresh=True)
    for name in os.listdir(str(tmp_path / "cache")):
        if name.endswith(".json") and not name.endswith(".accounts.json"):
            data = json.load(open(os.path.join(str(tmp_path / "cache"), name), encoding="utf-8"))
            assert not data.get("RefreshToken"), "the MSAL cache kept a refresh token"
    stored = FileRefreshTokenStore(path).load().token
    for name in os.listdir(str(tmp_path / "cache")):
        assert stored not in open(os.path.join(str(tmp_path / "cache"), name), encoding="utf-8").read()


def test_fresh_exchanges_again(session, idp, tmp_path):
    path = seeded_store(tmp_path)
    tp = provider(session, refresh_token_store=path)
    tp.get_token()
    tp.get_token(fresh=True)
    assert FileRefreshTokenStore(path).load().version == 2
    assert token_posts(session) == 2


def test_a_refused_exchange_keeps_the_stored_token(session, idp, tmp_path):
    path = seeded_store(tmp_path)
    idp.errors[PARTNER] = (700082, "invalid_grant")
    with pytest.raises(CspAuthError) as err:
        provider(session, refresh_token_store=path).get_token()
    assert err.value.code == "AADSTS700082"
    stored = FileRefreshTokenStore(path).load()
    assert (stored.version, stored.token) == (0, RT_SEED)


def test_store_and_refresh_token_are_mutually_exclusive(session, idp, tmp_path):
    with pytest.raises(CspValidationError) as err:
        csp_fakes.options(refresh_token=RT_SEED, refresh_token_store=seeded_store(tmp_path)).validate()
    assert err.value.code == "AmbiguousRefreshToken"


def test_a_bad_store_is_refused_before_any_request(session, idp):
    with pytest.raises(CspValidationError) as err:
        provider(session, refresh_token_store="ftp://somewhere/rt")
    assert err.value.code == "InvalidRefreshTokenStore"
    assert session.calls == []


def test_an_empty_store_says_to_consent(session, idp, tmp_path):
    with pytest.raises(Exception) as err:
        provider(session, refresh_token_store=str(tmp_path / "empty.json")).get_token()
    assert err.value.code == "RefreshTokenStoreEmpty"


def test_sam_client_exchange_returns_no_refresh_token(session, idp, tmp_path):
    path = seeded_store(tmp_path)
    sam = SamClient(csp_fakes.options().validate(), csp_fakes.make_http(session))
    token, stored = sam.exchange(FileRefreshTokenStore(path), tenant=CUSTOMER)
    assert token.refresh_token is None and token.grant == "refresh_token" and token.tenant_id == CUSTOMER
    assert stored.version == 1 and stored.token in idp.refresh_tokens and stored.token != RT_SEED
    assert stored.token not in repr(token) and stored.token not in repr(stored)
