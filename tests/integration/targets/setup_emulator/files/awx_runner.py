"""AWX-like jobs for the script targets: ansible-runner over private_data_dirs laid out as AWX lays them.

- credentials are docs/awx's credential types rendered as AWX renders them (tests/unit/awx/awx_render.py:
  every field a credential leaves empty arrives as ""), written to env/envvars; file injectors land in env/;
- the inventory is what an inventory update of docs/awx/project's customers source stores
  (ansible-inventory --list --export), handed to a job as an inventory script with only its hosts (a slice);
- the job's extra vars go to env/extravars, the project (docs/awx/project) is copied beside them, and the
  job runs with its Limit, its verbosity and the job id as ansible-runner's ident.

``job_outputs`` names what AWX keeps of a job and shows (job events, stdout, the inventory's host vars,
files the job wrote under artifacts/): the leak scan reads them. ansible-runner's own
artifacts/<ident>/command and the private data dir's env/ hold the injected environment by design; AWX
keeps neither (it deletes the private data dir after the job).
"""

import glob
import json
import os
import shutil
import stat
import subprocess

import yaml

PARTNER_APP = "Microsoft CSP partner app"
ENDPOINTS = "Microsoft CSP endpoints"
REFRESH_TOKEN_STORE = "Microsoft CSP refresh token store"


class AwxJobError(Exception):
    """A job could not be set up (not: the job failed; that is its status)."""


def collection_root():
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        root = os.path.join(path, "ansible_collections", "cloudpartner", "csp")
        if os.path.isdir(os.path.join(root, "docs", "awx")):
            return root
    raise AwxJobError("cloudpartner.csp with docs/awx not found on ANSIBLE_COLLECTIONS_PATH")


def _render_injectors():
    import sys
    path = os.path.join(collection_root(), "tests", "unit", "awx")
    if path not in sys.path:
        sys.path.insert(0, path)
    from awx_render import render_injectors
    return render_injectors


def credential_types():
    with open(os.path.join(collection_root(), "docs", "awx", "controller_configuration.yml"), encoding="utf-8") as handle:
        return {t["name"]: t for t in yaml.safe_load(handle)["controller_credential_types"]}


def credential_env(cfg, pdd, partner, store=None):
    """The environment a job with these credentials gets: the partner app (``partner``: its inputs), the
    emulator's endpoints and, with ``store`` (inputs of a refresh token store credential), that store."""
    render = _render_injectors()
    types = credential_types()
    with open(cfg["csp_ca_bundle"], encoding="utf-8") as handle:
        ca_pem = handle.read()
    env = render(types[PARTNER_APP], partner, pdd)
    env.update(render(types[ENDPOINTS], {
        "authority_host": cfg["csp_authority_host"], "graph_endpoint": cfg["csp_graph_endpoint"],
        "partner_center_endpoint": cfg["csp_partner_center_endpoint"], "ca_bundle": ca_pem}, pdd))
    if store is not None:
        env.update(render(types[REFRESH_TOKEN_STORE], store, pdd))
    return env


def inventory_update(cfg, work, partner):
    """What AWX's inventory update of the project's source stores: ansible-inventory --list --export."""
    pdd = os.path.join(work, "inventory_update")
    env = credential_env(cfg, pdd, partner)
    proc = subprocess.run(
        ["ansible-inventory", "-i",
         os.path.join(collection_root(), "docs", "awx", "project", "inventory", "customers.csp_customers.yml"),
         "--list", "--export"],
        env=dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_INVENTORY_EXPORT="True", **env),
        cwd=pdd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AwxJobError("inventory update failed (rc %s): %s" % (proc.returncode, proc.stderr[-2000:]))
    return json.loads(proc.stdout)


def inventory_script(data, hosts):
    """AWX hands a job its inventory as a script; a slice gets only its hosts."""
    keep = set(hosts)
    out = {"_meta": {"hostvars": {h: v for h, v in data["_meta"]["hostvars"].items() if h in keep}}}
    for group, value in data.items():
        if group == "_meta":
            continue
        entry = dict(value)
        if "hosts" in entry:
            entry["hosts"] = [h for h in entry["hosts"] if h in keep]
        out[group] = entry
    return "#!/usr/bin/env python3\nimport json\nprint(json.dumps(json.loads(%r)))\n" % json.dumps(out)


def run_job(cfg, work, name, playbook, partner, inventory=None, hosts=(), limit=None, extravars=None, job_id=1,
            store=None, verbosity=0):
    """One AWX job in its own private data dir ``work/name``; returns (ansible_runner Runner, pdd)."""
    import ansible_runner
    pdd = os.path.join(work, name)
    os.makedirs(os.path.join(pdd, "env"))
    envvars = credential_env(cfg, pdd, partner, store)
    with open(os.path.join(pdd, "env", "envvars"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(envvars, handle)
    extra = {"awx_job_id": job_id, "tower_job_id": job_id}
    extra.update(extravars or {})
    with open(os.path.join(pdd, "env", "extravars"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(extra, handle)
    os.makedirs(os.path.join(pdd, "inventory"))
    script = os.path.join(pdd, "inventory", "hosts")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(inventory_script(inventory or {"_meta": {"hostvars": {}}}, hosts))
    os.chmod(script, stat.S_IRWXU)
    shutil.copytree(os.path.join(collection_root(), "docs", "awx", "project"), os.path.join(pdd, "project"))
    runner = ansible_runner.run(private_data_dir=pdd, playbook=playbook, limit=limit, ident=str(job_id),
                                quiet=True, forks=10, verbosity=verbosity or None)
    return runner, pdd


def job_outputs(pdd):
    """[(path, what)] of what AWX keeps of the job in ``pdd`` and shows: job events, stdout, the inventory
    (AWX stores its host vars) and every other file under artifacts/ (reports, set_stats, fact cache),
    but not ansible-runner's artifacts/<ident>/command (the injected environment; AWX keeps none)."""
    found = [(os.path.join(pdd, "inventory", "hosts"), "AWX inventory")]
    for path in sorted(glob.glob(os.path.join(pdd, "artifacts", "**", "*"), recursive=True)):
        if not os.path.isfile(path):
            continue
        rel = os.path.relpath(path, os.path.join(pdd, "artifacts")).split(os.sep)
        if len(rel) == 2 and rel[1] == "command":
            continue
        if "job_events" in rel:
            what = "AWX job event"
        elif rel[-1] == "stdout":
            what = "AWX job stdout"
        else:
            what = "AWX job artifact"
        found.append((path, what))
    return found
