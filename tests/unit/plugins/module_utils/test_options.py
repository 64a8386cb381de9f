"""The option contract and validation before any request."""

import os
import re
import stat

import pytest
import yaml

from ansible_collections.cloudpartner.csp.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.cloudpartner.csp.plugins.module_utils.cloud import get_cloud, resource_scopes
from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.options import (
    CONNECTION_ARGSPEC,
    CONNECTION_ENV,
    ConnectionOptions,
    normalize_https_url,
)

import csp_fakes

# DESIGN.md's table, verbatim, plus refresh_token_store (issue 7: the Secure Application Model store)
CONTRACT = {
    "tenant_id": "CSP_TENANT_ID", "client_id": "CSP_CLIENT_ID", "client_secret": "CSP_CLIENT_SECRET",
    "client_certificate_path": "CSP_CLIENT_CERTIFICATE_PATH", "refresh_token": "CSP_REFRESH_TOKEN",
    "refresh_token_store": "CSP_REFRESH_TOKEN_STORE",
    "cloud": "CSP_CLOUD", "authority_host": "CSP_AUTHORITY_HOST", "graph_endpoint": "CSP_GRAPH_ENDPOINT",
    "partner_center_endpoint": "CSP_PARTNER_CENTER_ENDPOINT", "ca_bundle": "CSP_CA_BUNDLE",
    "token_cache_path": "CSP_TOKEN_CACHE",
}


def test_argspec_is_the_design_contract():
    assert CONNECTION_ENV == CONTRACT
    assert list(CONNECTION_ARGSPEC) == list(CONTRACT)
    for name, spec in CONNECTION_ARGSPEC.items():
        assert spec["fallback"][1] == [CONTRACT[name]], name


def test_no_log_is_explicit_where_it_matters():
    assert CONNECTION_ARGSPEC["client_secret"]["no_log"] is True
    assert CONNECTION_ARGSPEC["refresh_token"]["no_log"] is True
    for name, spec in CONNECTION_ARGSPEC.items():
        if name not in ("client_secret", "refresh_token") and re.search("token|secret|pass|key", name):
            assert spec.get("no_log") is False, name
    assert "no_log" not in CONNECTION_ARGSPEC["client_id"]
    assert "no_log" not in CONNECTION_ARGSPEC["tenant_id"]


@pytest.mark.parametrize("fragment", ["DOCUMENTATION", "PLUGINS"])
def test_doc_fragment_mirrors_argspec(fragment):
    options = yaml.safe_load(getattr(ModuleDocFragment, fragment))["options"]
    assert list(options) == list(CONNECTION_ARGSPEC)
    for name, spec in CONNECTION_ARGSPEC.items():
        doc = options[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        if fragment == "PLUGINS":
            assert doc["env"] == [{"name": CONTRACT[name]}], name
        else:
            assert CONTRACT[name] in " ".join(doc["description"]), name


def check(message_pattern, **overrides):
    with pytest.raises(CspValidationError) as info:
        csp_fakes.options(**overrides).validate()
    assert re.search(message_pattern, info.value.message), info.value.message
    return info.value


def test_valid_options_pass():
    opts = csp_fakes.options().validate()
    assert opts.authority_host == csp_fakes.LOGIN
    assert opts.credential == csp_fakes.SECRET
    assert opts.grant == "client_credentials"


def test_domain_tenant_is_fine():
    assert csp_fakes.options(tenant_id="Contoso.onmicrosoft.com").validate().tenant_id == "contoso.onmicrosoft.com"


@pytest.mark.parametrize("tenant", ["not a tenant", "1234", "common", "organizations", "10000000-0000-4000-8000"])
def test_bad_tenant(tenant):
    assert check("neither a GUID nor a domain", tenant_id=tenant).code == "InvalidTenant"


def test_missing_tenant():
    check("tenant_id is required", tenant_id=None)


def test_bad_client_id():
    assert check("client_id 'my-app' is not a GUID", client_id="my-app").code == "InvalidClientId"


def test_secret_and_certificate(tmp_path):
    pem = tmp_path / "c.pem"
    pem.write_text("x")
    check("mutually exclusive", client_certificate_path=str(pem))


def test_no_credential():
    check("no credential", client_secret=None)
    check("refresh_token needs the app's credential", client_secret=None, refresh_token="rt-value-123")


def test_unreadable_certificate(tmp_path):
    check("cannot be read", client_secret=None, client_certificate_path=str(tmp_path / "missing.pem"))


def _key_and_cert(common_name="app"):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import datetime
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert


def test_certificate_credential(tmp_path):
    from cryptography.hazmat.primitives import hashes
    key_pem, cert_pem, cert = _key_and_cert()
    pem = tmp_path / "app.pem"
    pem.write_bytes(key_pem + cert_pem)
    opts = csp_fakes.options(client_secret=None, client_certificate_path=str(pem)).validate()
    assert opts.credential["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert "PRIVATE KEY" in opts.credential["private_key"]
    assert opts.credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")


def test_certificate_without_key(tmp_path):
    cert_pem = _key_and_cert()[1]
    pem = tmp_path / "cert-only.pem"
    pem.write_bytes(cert_pem)
    check("missing a private key", client_secret=None, client_certificate_path=str(pem))


def test_certificate_key_mismatch(tmp_path):
    key_pem = _key_and_cert()[0]
    other_cert = _key_and_cert("other")[1]
    pem = tmp_path / "mixed.pem"
    pem.write_bytes(key_pem + other_cert)
    check("does not belong", client_secret=None, client_certificate_path=str(pem))


def test_unknown_cloud():
    err = check("cloud 'germany' is not known", cloud="germany")
    assert "public, usgov, china" in err.message
    with pytest.raises(CspValidationError):
        get_cloud("mars")


@pytest.mark.parametrize("name", ["authority_host", "graph_endpoint", "partner_center_endpoint"])
def test_endpoints_must_be_https(name):
    check("must be an https URL", **{name: "http://127.0.0.1:8443"})


def test_endpoint_normalisation():
    assert normalize_https_url("127.0.0.1:8443/", "x") == "https://127.0.0.1:8443"
    assert normalize_https_url("https://Login.Example.test", "x") == "https://Login.Example.test"
    with pytest.raises(CspValidationError):
        normalize_https_url("https://host/v1.0", "graph_endpoint")
    with pytest.raises(CspValidationError):
        normalize_https_url("https://host:99999", "graph_endpoint")


def test_missing_ca_bundle(tmp_path):
    check("ca_bundle .* is not a readable file", ca_bundle=str(tmp_path / "none.pem"))


def test_token_cache_path_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    check("must be a directory", token_cache_path=str(f))


def test_usgov_has_no_partner_center_default():
    opts = csp_fakes.options(cloud="usgov", partner_center_endpoint=None, graph_endpoint=None,
                             authority_host=None).validate()
    assert opts.authority_host == "https://login.microsoftonline.us"
    assert opts.graph_endpoint == "https://graph.microsoft.us"
    assert opts.partner_center_endpoint is None


def test_from_dict_uses_environment(monkeypatch):
    monkeypatch.setenv("CSP_TENANT_ID", csp_fakes.PARTNER)
    monkeypatch.setenv("CSP_CLIENT_ID", csp_fakes.APP)
    monkeypatch.setenv("CSP_CLIENT_SECRET", "env-secret-value")
    opts = ConnectionOptions.from_dict({"authority_host": csp_fakes.LOGIN}).validate()
    assert opts.tenant_id == csp_fakes.PARTNER and opts.credential == "env-secret-value"


def test_from_plugin_reads_get_option():
    class Plugin:
        def get_option(self, name):
            values = {"tenant_id": csp_fakes.PARTNER, "client_id": csp_fakes.APP, "client_secret": "plugin-secret-x"}
            if name == "token_cache_path":
                raise KeyError(name)
            return values.get(name)
    opts = ConnectionOptions.from_plugin(Plugin()).validate()
    assert opts.client_id == csp_fakes.APP and opts.get("token_cache_path") is None


def test_secrets_are_registered_for_redaction():
    from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import redact
    csp_fakes.options(client_secret="a-very-plain-secret", refresh_token="plain-refresh-token")
    assert "a-very-plain-secret" not in redact("oops a-very-plain-secret")
    assert "plain-refresh-token" not in redact("oops plain-refresh-token")


def test_credential_fingerprint_differs_per_secret():
    a = csp_fakes.options(client_secret="secret-aaaaaa").validate().credential_fingerprint()
    b = csp_fakes.options(client_secret="secret-bbbbbb").validate().credential_fingerprint()
    assert a != b and "secret" not in a


@pytest.mark.parametrize("resource, delegated, expected", [
    ("graph", False, ["https://graph.microsoft.com/.default"]),
    ("partner_center", True, ["https://api.partnercenter.microsoft.com/user_impersonation"]),
    ("partner_center", False, ["https://api.partnercenter.microsoft.com/.default"]),
    ("azure_management", False, ["https://management.azure.com/.default"]),
    ("https://outlook.office365.com", False, ["https://outlook.office365.com/.default"]),
    ("https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read", True,
     ["https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Mail.Read"]),
    (["api://x/.default"], False, ["api://x/.default"]),
])
def test_resource_scopes(resource, delegated, expected):
    assert resource_scopes(get_cloud("public"), resource, delegated) == expected


def test_china_scopes():
    assert resource_scopes(get_cloud("china"), "graph", False) == ["https://microsoftgraph.chinacloudapi.cn/.default"]


def test_file_modes_helper(tmp_path):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.files import atomic_write
    target = tmp_path / "rt"
    atomic_write(str(target), "value")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert target.read_text() == "value"
    assert [p.name for p in tmp_path.iterdir()] == ["rt"]


# --- empty means unset (AWX injects "" for every credential field the credential does not hold) -------
AWX_SECRET_ONLY_ENV = dict({env: "" for env in CONTRACT.values()}, CSP_TENANT_ID=csp_fakes.PARTNER,
                           CSP_CLIENT_ID=csp_fakes.APP, CSP_CLIENT_SECRET=csp_fakes.SECRET)


def test_module_env_fallback_skips_empty_variables(monkeypatch, tmp_path):
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    for name, value in AWX_SECRET_ONLY_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    result = ArgumentSpecValidator(CONNECTION_ARGSPEC).validate({})
    assert result.error_messages == []  # CSP_CLOUD="" used to fail `choices`
    params = result.validated_parameters
    assert params["cloud"] == "public" and params["client_secret"] == csp_fakes.SECRET
    for name in ("client_certificate_path", "ca_bundle", "token_cache_path", "refresh_token",
                 "refresh_token_store", "authority_host"):
        assert params[name] is None, name
    options = ConnectionOptions(params).validate()
    assert options.grant == "client_credentials" and options.verify is True


@pytest.mark.parametrize("value", ["", "  ", None, {}])
def test_empty_values_are_unset_in_connection_options(value):
    options = csp_fakes.options(client_certificate_path=value, refresh_token_store=value, ca_bundle=value,
                                token_cache_path=value, refresh_token=value, cloud=value).validate()
    assert options.refresh_token_store_spec is None and options.grant == "client_credentials"
    assert options.cloud.name == "public" and options.verify is True and options.credential == csp_fakes.SECRET


def test_from_dict_empty_value_takes_the_environment(monkeypatch):
    monkeypatch.setenv("CSP_CLIENT_SECRET", "from-env")
    assert ConnectionOptions.from_dict({"client_secret": ""}).client_secret == "from-env"


def test_empty_env_hidden_restores(monkeypatch):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.options import empty_env_hidden
    monkeypatch.setenv("CSP_CA_BUNDLE", "")
    monkeypatch.setenv("CSP_CLOUD", "usgov")
    with empty_env_hidden():
        assert "CSP_CA_BUNDLE" not in os.environ and os.environ["CSP_CLOUD"] == "usgov"
    assert os.environ["CSP_CA_BUNDLE"] == ""
