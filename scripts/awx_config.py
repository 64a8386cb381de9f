#!/usr/bin/env python
"""docs/awx/controller_configuration.yml (infra.aap_configuration variables) -> docs/awx/awx_export.json.

    python scripts/awx_config.py export [CONFIG] [OUT]   write the `awx import` file
    python scripts/awx_config.py check [CONFIG] [OUT]    exit 1 when OUT is not what CONFIG gives

The export file has the shape `awx export` (awxkit) writes and `awx import` reads: one list per resource,
each object with its fields, foreign keys as natural keys ({"name": ..., "type": ...}), dependent objects
(survey spec, workflow nodes) and attached credentials under "related", and its own "natural_key". The
configuration file is the single source; tests/unit/awx/test_awx_configuration.py checks both.
"""

import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "docs", "awx", "controller_configuration.yml")
EXPORT = os.path.join(ROOT, "docs", "awx", "awx_export.json")


class Names:
    """Natural keys of the configuration's objects, by name."""

    def __init__(self, config):
        self.config = config
        self.types = {t["name"]: t for t in config.get("controller_credential_types", [])}
        self.credentials = {c["name"]: c for c in config.get("controller_credentials", [])}
        self.inventories = {i["name"]: i for i in config.get("controller_inventories", [])}
        self.sources = {s["name"]: s for s in config.get("controller_inventory_sources", [])}
        self.templates = {t["name"]: t for t in config.get("controller_templates", [])}
        self.workflows = {w["name"]: w for w in config.get("controller_workflows", [])}

    @staticmethod
    def organization(name):
        return {"name": name, "type": "organization"}

    def credential_type(self, name):
        return {"name": name, "kind": self.types[name]["kind"], "type": "credential_type"}

    def credential(self, name):
        cred = self.credentials[name]
        return {"organization": self.organization(cred["organization"]), "name": name,
                "credential_type": self.credential_type(cred["credential_type"]), "type": "credential"}

    @staticmethod
    def execution_environment(name):
        return {"name": name, "type": "execution_environment"}

    def project(self, name):
        project = next(p for p in self.config["controller_projects"] if p["name"] == name)
        return {"organization": self.organization(project["organization"]), "name": name, "type": "project"}

    def inventory(self, name):
        return {"organization": self.organization(self.inventories[name]["organization"]), "name": name,
                "type": "inventory"}

    def inventory_source(self, name):
        return {"name": name, "inventory": self.inventory(self.sources[name]["inventory"]), "type": "inventory_source"}

    def job_template(self, name):
        return {"organization": self.organization(self.templates[name]["organization"]), "name": name,
                "type": "job_template"}

    def workflow(self, name):
        return {"organization": self.organization(self.workflows[name]["organization"]), "name": name,
                "type": "workflow_job_template"}

    def unified_job_template(self, name):
        for kind, table in (("job_template", self.templates), ("workflow", self.workflows),
                            ("inventory_source", self.sources)):
            if name in table:
                return getattr(self, kind)(name)
        raise KeyError("no job template, workflow or inventory source named %r" % name)


def _plain(item, *skip):
    return {k: v for k, v in item.items() if k not in skip}


def _text(value):
    """AWX keeps extra_vars and source_vars as YAML/JSON text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2, sort_keys=True)
    return value


def export(config):
    names = Names(config)
    out = {}
    out["organizations"] = [dict(_plain(o), natural_key=names.organization(o["name"]))
                            for o in config.get("controller_organizations", [])]
    out["credential_types"] = [dict(_plain(t), natural_key=names.credential_type(t["name"]))
                               for t in config.get("controller_credential_types", [])]
    out["credentials"] = [
        dict(_plain(c), organization=names.organization(c["organization"]),
             credential_type=names.credential_type(c["credential_type"]), natural_key=names.credential(c["name"]))
        for c in config.get("controller_credentials", [])]
    out["execution_environments"] = [dict(_plain(e), natural_key=names.execution_environment(e["name"]))
                                     for e in config.get("controller_execution_environments", [])]
    out["projects"] = [
        dict(_plain(p, "default_environment"), organization=names.organization(p["organization"]),
             default_environment=names.execution_environment(p["default_environment"]),
             natural_key=names.project(p["name"]))
        for p in config.get("controller_projects", [])]
    out["inventory"] = [dict(_plain(i), organization=names.organization(i["organization"]),
                             natural_key=names.inventory(i["name"]))
                        for i in config.get("controller_inventories", [])]
    out["inventory_sources"] = [
        dict(_plain(s, "organization"), inventory=names.inventory(s["inventory"]),
             source_project=names.project(s["source_project"]), credential=names.credential(s["credential"]),
             execution_environment=names.execution_environment(s["execution_environment"]),
             natural_key=names.inventory_source(s["name"]))
        for s in config.get("controller_inventory_sources", [])]
    templates = []
    for t in config.get("controller_templates", []):
        item = _plain(t, "credentials", "survey_spec")
        item.update(organization=names.organization(t["organization"]), inventory=names.inventory(t["inventory"]),
                    project=names.project(t["project"]),
                    execution_environment=names.execution_environment(t["execution_environment"]))
        if "extra_vars" in t:
            item["extra_vars"] = _text(t["extra_vars"])
        related = {"credentials": [names.credential(c) for c in t.get("credentials", [])]}
        if t.get("survey_spec"):
            related["survey_spec"] = t["survey_spec"]
        item["related"] = related
        item["natural_key"] = names.job_template(t["name"])
        templates.append(item)
    out["job_templates"] = templates
    workflows = []
    for w in config.get("controller_workflows", []):
        key = names.workflow(w["name"])
        item = _plain(w, "workflow_nodes")
        item.update(organization=names.organization(w["organization"]), inventory=names.inventory(w["inventory"]))
        nodes = []
        for node in w.get("workflow_nodes", []):
            node_key = {"workflow_job_template": key, "identifier": node["identifier"],
                        "type": "workflow_job_template_node"}
            related = node.get("related", {})
            ujt = node["unified_job_template"]
            nodes.append({
                "identifier": node["identifier"],
                "all_parents_must_converge": node.get("all_parents_must_converge", False),
                "unified_job_template": names.unified_job_template(ujt["name"]),
                "related": dict(
                    {kind: [dict(node_key, identifier=n["identifier"]) for n in related.get(kind, [])]
                     for kind in ("success_nodes", "failure_nodes", "always_nodes")},
                    credentials=[names.credential(c["name"]) for c in related.get("credentials", [])]),
                "natural_key": node_key,
            })
        item["related"] = {"workflow_nodes": nodes}
        item["natural_key"] = key
        workflows.append(item)
    out["workflow_job_templates"] = workflows
    out["schedules"] = [
        dict(_plain(s), unified_job_template=names.unified_job_template(s["unified_job_template"]),
             natural_key={"unified_job_template": names.unified_job_template(s["unified_job_template"]),
                          "name": s["name"], "type": "schedule"})
        for s in config.get("controller_schedules", [])]
    return out


def render(data):
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv):
    if not argv or argv[0] not in ("export", "check"):
        sys.exit(__doc__)
    config_path = argv[1] if len(argv) > 1 else CONFIG
    out_path = argv[2] if len(argv) > 2 else EXPORT
    with open(config_path, encoding="utf-8") as handle:
        text = render(export(yaml.safe_load(handle)))
    if argv[0] == "export":
        with open(out_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    with open(out_path, encoding="utf-8") as handle:
        if handle.read() != text:
            sys.exit("%s is not what %s gives: run python scripts/awx_config.py export" % (out_path, config_path))


if __name__ == "__main__":
    main(sys.argv[1:])
