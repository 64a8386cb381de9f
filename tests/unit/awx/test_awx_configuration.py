"""docs/awx: the AWX configuration as code, checked without an AWX server.

- controller_configuration.yml (infra.aap_configuration variables): every key is an option of the awx.awx
  module it feeds (awx_module_options.json: the modules' argument_spec names), every reference resolves,
  surveys and credential types are what AWX accepts;
- awx_export.json is exactly what scripts/awx_config.py makes of it, in awxkit's import format: its
  resources and natural keys are awxkit's own (awxkit.api.pages);
- the credential types, rendered the way AWX renders injectors (a Jinja sandbox over the credential's
  inputs, absent fields render "", file injectors always written), give the collection a valid
  configuration, with a per-job token cache.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, os.pardir, os.pardir, os.pardir))
AWX = os.path.join(ROOT, "docs", "awx")
sys.path.insert(0, HERE)

from awx_render import render_injectors  # noqa: E402

with open(os.path.join(AWX, "controller_configuration.yml"), encoding="utf-8") as _handle:
    CONFIG = yaml.safe_load(_handle)
with open(os.path.join(HERE, "awx_module_options.json"), encoding="utf-8") as _handle:
    MODULE_OPTIONS = json.load(_handle)

SECTIONS = {
    "controller_organizations": "organization",
    "controller_credential_types": "credential_type",
    "controller_credentials": "credential",
    "controller_execution_environments": "execution_environment",
    "controller_projects": "project",
    "controller_inventories": "inventory",
    "controller_inventory_sources": "inventory_source",
    "controller_templates": "job_template",
    "controller_workflows": "workflow_job_template",
    "controller_schedules": "schedule",
}


def names(section):
    return {item["name"] for item in CONFIG.get(section, [])}


def test_sections_are_infra_aap_configuration_variables():
    assert set(CONFIG) <= set(SECTIONS), set(CONFIG) - set(SECTIONS)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_key_is_an_awx_module_option(section):
    allowed = set(MODULE_OPTIONS[SECTIONS[section]])
    for item in CONFIG.get(section, []):
        assert set(item) <= allowed, (item["name"], set(item) - allowed)


def test_workflow_nodes_are_awx_module_options():
    for workflow in CONFIG["controller_workflows"]:
        identifiers = {node["identifier"] for node in workflow["workflow_nodes"]}
        for node in workflow["workflow_nodes"]:
            assert set(node) <= set(MODULE_OPTIONS["workflow_nodes"]), node
            assert set(node.get("related", {})) <= set(MODULE_OPTIONS["workflow_nodes.related"]), node
            assert node["unified_job_template"]["name"] in names("controller_templates")
            for kind in ("success_nodes", "failure_nodes", "always_nodes"):
                for target in node.get("related", {}).get(kind, []):
                    assert target["identifier"] in identifiers
            for cred in node.get("related", {}).get("credentials", []):
                assert cred["name"] in names("controller_credentials")


def test_references_resolve():
    orgs, creds = names("controller_organizations"), names("controller_credentials")
    ees, projects = names("controller_execution_environments"), names("controller_projects")
    inventories, types = names("controller_inventories"), names("controller_credential_types")
    for section in SECTIONS:
        for item in CONFIG.get(section, []):
            if "organization" in item:
                assert item["organization"] in orgs, item["name"]
            if "execution_environment" in item or "default_environment" in item:
                assert item.get("execution_environment", item.get("default_environment")) in ees
            for cred in item.get("credentials", []) + ([item["credential"]] if "credential" in item else []):
                assert cred in creds, (item["name"], cred)
            if section != "controller_inventories" and "inventory" in item:
                assert item["inventory"] in inventories
            if "project" in item or "source_project" in item:
                assert item.get("project", item.get("source_project")) in projects
    for cred in CONFIG["controller_credentials"]:
        assert cred["credential_type"] in types
    runnable = names("controller_templates") | names("controller_workflows") | names("controller_inventory_sources")
    for schedule in CONFIG["controller_schedules"]:
        assert schedule["unified_job_template"] in runnable
        assert schedule["rrule"].startswith("DTSTART") and " RRULE:" in schedule["rrule"]


def test_one_credential_of_each_type_per_job():
    """AWX refuses two credentials of one (non-vault) type on a job: one region per job or node."""
    kinds = {c["name"]: c["credential_type"] for c in CONFIG["controller_credentials"]}
    for item in CONFIG["controller_templates"]:
        used = [kinds[c] for c in item.get("credentials", [])]
        assert len(used) == len(set(used)), item["name"]
    for workflow in CONFIG["controller_workflows"]:
        for node in workflow["workflow_nodes"]:
            used = [kinds[c["name"]] for c in node.get("related", {}).get("credentials", [])]
            assert len(used) == len(set(used)), node["identifier"]


SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def test_surveys_are_valid():
    surveyed = [t for t in CONFIG["controller_templates"] if t.get("survey_enabled")]
    assert {t["name"] for t in surveyed} >= {"CSP onboard new customer"}
    onboarding = next(t for t in surveyed if t["name"] == "CSP onboard new customer")
    assert {q["variable"] for q in onboarding["survey_spec"]["spec"]} >= {
        "new_customer_domain", "new_customer_company_name", "new_customer_region", "new_customer_role_template"}
    with open(os.path.join(AWX, "project", onboarding["playbook"]), encoding="utf-8") as handle:
        playbook = handle.read()
    for question in onboarding["survey_spec"]["spec"]:
        assert question["variable"] in playbook, question["variable"]
    for template in surveyed:
        spec = template["survey_spec"]
        assert spec["name"] and isinstance(spec["description"], str)
        variables = [q["variable"] for q in spec["spec"]]
        assert len(variables) == len(set(variables))
        for question in spec["spec"]:
            assert question["type"] in SURVEY_TYPES and question["question_name"]
            if question["type"] in ("multiplechoice", "multiselect"):
                assert question.get("default", question["choices"][0]) in question["choices"]


def test_playbooks_exist_in_the_project_skeleton():
    for template in CONFIG["controller_templates"]:
        assert os.path.isfile(os.path.join(AWX, "project", template["playbook"])), template["playbook"]
    for source in CONFIG["controller_inventory_sources"]:
        assert os.path.isfile(os.path.join(AWX, "project", source["source_path"])), source["source_path"]


# --- the awx import file ----------------------------------------------------------------------------
with open(os.path.join(AWX, "awx_export.json"), encoding="utf-8") as _handle:
    EXPORT = json.load(_handle)


def test_export_is_generated_from_the_configuration():
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "awx_config.py"), "check"], check=True)


def _natural_keys():
    from awxkit.api import pages
    return {"organization": pages.Organization, "credential_type": pages.CredentialType,
            "credential": pages.Credential, "execution_environment": pages.ExecutionEnvironment,
            "project": pages.Project, "inventory": pages.Inventory, "inventory_source": pages.InventorySource,
            "job_template": pages.JobTemplate, "workflow_job_template": pages.WorkflowJobTemplate,
            "workflow_job_template_node": pages.WorkflowJobTemplateNode, "schedule": pages.Schedule}


def _check_key(key, known, classes):
    assert isinstance(key, dict) and key["type"] in classes, key
    assert set(key) - {"type"} <= set(classes[key["type"]].NATURAL_KEY), key
    for value in key.values():
        if isinstance(value, dict):
            _check_key(value, known, classes)
    if key["type"] not in ("workflow_job_template_node",):
        assert json.dumps(key, sort_keys=True) in known, ("not in the file", key)


def test_export_shape_is_awxkit_import_format():
    from awxkit.api.pages.api import EXPORTABLE_RESOURCES
    classes = _natural_keys()
    assert set(EXPORT) <= set(EXPORTABLE_RESOURCES)
    known = {json.dumps(asset["natural_key"], sort_keys=True) for assets in EXPORT.values() for asset in assets}
    for resource, assets in EXPORT.items():
        for asset in assets:
            _check_key(asset["natural_key"], known, classes)
            for field, value in asset.items():
                if isinstance(value, dict) and "type" in value and field not in ("natural_key",):
                    _check_key(value, known, classes)  # a foreign key, as awxkit resolves it on import
            related = asset.get("related", {})
            for cred in related.get("credentials", []):
                _check_key(cred, known, classes)
            if "survey_spec" in related:
                assert set(related["survey_spec"]) == {"name", "description", "spec"}
            for node in related.get("workflow_nodes", []):
                assert node["natural_key"]["workflow_job_template"] == asset["natural_key"]
                _check_key(node["unified_job_template"], known, classes)
                node_keys = {json.dumps(n["natural_key"], sort_keys=True) for n in related["workflow_nodes"]}
                for kind in ("success_nodes", "failure_nodes", "always_nodes"):
                    for target in node["related"][kind]:
                        assert json.dumps(target, sort_keys=True) in node_keys
            if resource == "job_templates" and "extra_vars" in asset:
                assert isinstance(asset["extra_vars"], str)  # AWX stores extra_vars as text


def test_export_holds_no_secret():
    types = {t["name"]: t for t in CONFIG["controller_credential_types"]}
    for cred in EXPORT["credentials"]:
        fields = {f["id"]: f for f in types[cred["credential_type"]["name"]]["inputs"]["fields"]}
        assert not [k for k in cred["inputs"] if fields[k].get("secret")], cred["name"]


# --- credential types, rendered as AWX renders them -----------------------------------------------
TYPES = {t["name"]: t for t in CONFIG["controller_credential_types"]}
PROHIBITED = ("ANSIBLE_", "AWX_", "JOB_", "INVENTORY_", "PROJECT_", "CALLBACK_", "PATH", "HOME", "PYTHONPATH")


@pytest.mark.parametrize("name", sorted(TYPES))
def test_credential_type_is_valid_for_awx(name):
    ctype = TYPES[name]
    assert ctype["kind"] in ("cloud", "net")
    fields = ctype["inputs"]["fields"]
    ids = [f["id"] for f in fields]
    assert len(ids) == len(set(ids)) and set(ctype["inputs"].get("required", [])) <= set(ids)
    for field in fields:
        assert field["type"] in ("string", "boolean") and field["label"]
        assert "default" not in field or field["type"] == "boolean"  # a default fills only the UI form
    for env in ctype["injectors"].get("env", {}):
        assert env.startswith("CSP_") and not env.startswith(PROHIBITED)
    for label in ctype["injectors"].get("file", {}):
        assert label.startswith("template.")


def test_secret_only_credential_renders_a_working_configuration(tmp_path):
    from ansible_collections.cloudpartner.csp.plugins.module_utils.options import CONNECTION_ENV, ConnectionOptions
    env = render_injectors(TYPES["Microsoft CSP partner app"], {
        "tenant_id": "10000000-0000-4000-8000-000000000001", "client_id": "20000000-0000-4000-8000-000000000001",
        "client_secret": "s3cret-value"}, str(tmp_path))
    # every field left empty arrives as "", as the issue found in AWX
    assert env["CSP_CLOUD"] == "" and env["CSP_CLIENT_CERTIFICATE_PATH"] == "" and env["CSP_REFRESH_TOKEN"] == ""
    cache = env["CSP_TOKEN_CACHE"]
    assert cache.endswith(".d") and cache.startswith(str(tmp_path / "env"))  # per job, in its private dir
    values = {name: env.get(var) for name, var in CONNECTION_ENV.items()}
    options = ConnectionOptions(values).validate()
    assert options.grant == "client_credentials" and options.cloud.name == "public"
    assert options.refresh_token_store_spec is None and options.token_cache_path == cache


def test_certificate_credential_writes_the_pem(tmp_path):
    env = render_injectors(TYPES["Microsoft CSP partner app"], {
        "tenant_id": "t.onmicrosoft.com", "client_id": "c", "client_certificate": "-----BEGIN X-----"}, str(tmp_path))
    with open(env["CSP_CLIENT_CERTIFICATE_PATH"], encoding="utf-8") as handle:
        assert handle.read() == "-----BEGIN X-----"
    assert env["CSP_CLIENT_SECRET"] == ""


def test_store_and_endpoints_credentials(tmp_path):
    store = render_injectors(TYPES["Microsoft CSP refresh token store"], {"store": "keyvault://v/s"}, str(tmp_path))
    assert store == {"CSP_REFRESH_TOKEN_STORE": "keyvault://v/s", "CSP_VAULT_PASSWORD_FILE": ""}
    endpoints = render_injectors(TYPES["Microsoft CSP endpoints"], {"authority_host": "https://127.0.0.1:1"},
                                 str(tmp_path))
    assert endpoints["CSP_CA_BUNDLE"] == "" and endpoints["CSP_GRAPH_ENDPOINT"] == ""
