#!/usr/bin/python3
"""Checks the Grafana dashboard and the Prometheus rules against the metric contract.

docs/metrics.md lists every metric perennial-server exports (or will export). This script fails
when the dashboard JSON is malformed, when a panel or an annotation has no query, when any query
(dashboard, alert rules, alert rule tests) names a perennial_* metric that the contract does not
list, or when the dashboard's datasource does not match the provisioned one. It needs only the
Python standard library.

Usage (from the repository root; exit status 0 when everything is consistent):

    /usr/bin/python3 deploy/check_dashboard.py
    /usr/bin/python3 deploy/check_dashboard.py --root /path/to/checkout --verbose

Run by ctest as `deploy_check_dashboard` (deploy/CMakeLists.txt) and unit-tested by
deploy/check_dashboard_test.py.
"""

import argparse
import json
import os
import re
import sys

METRICS_DOC = "docs/metrics.md"
DASHBOARD_DIR = "deploy/grafana/dashboards"
DATASOURCE_PROVISIONING = "deploy/grafana/provisioning/datasources/perennial.yaml"
RULE_FILES = ("deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml")

# A row of a table in docs/metrics.md: | `perennial_name` | type | ...
_TABLE_ROW = re.compile(
    r"^\|\s*`(perennial_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram|summary)\s*\|")
_METRIC_REF = re.compile(r"\bperennial_[a-z0-9_]+\b")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_GRID_COLUMNS = 24


def load_contract(path):
    """Returns {metric name: type} from the tables of docs/metrics.md."""
    contract = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = _TABLE_ROW.match(line.strip())
            if match:
                contract[match.group(1)] = match.group(2)
    return contract


def allowed_names(contract):
    """Every series name a query may use: the contract plus histogram/summary sub-series."""
    names = set(contract)
    for name, kind in contract.items():
        if kind in ("histogram", "summary"):
            names.update(name + suffix for suffix in _HISTOGRAM_SUFFIXES)
    return names


def _balanced(expr):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    in_string = None
    for ch in expr:
        if in_string:
            if ch == in_string:
                in_string = None
            continue
        if ch in "\"'":
            in_string = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and in_string is None


def _check_expr(where, expr, allowed, errors, used):
    if not isinstance(expr, str) or not expr.strip():
        errors.append(f"{where}: empty query")
        return
    refs = _METRIC_REF.findall(expr)
    if not refs:
        errors.append(f"{where}: query names no perennial_* metric: {expr}")
    for name in refs:
        used.add(name)
        if name not in allowed:
            errors.append(f"{where}: metric {name} is not in {METRICS_DOC}")
    if not _balanced(expr):
        errors.append(f"{where}: unbalanced brackets or quotes: {expr}")


def _provisioned_datasource_uid(root):
    path = os.path.join(root, DATASOURCE_PROVISIONING)
    with open(path, encoding="utf-8") as f:
        match = re.search(r"^\s*uid:\s*([A-Za-z0-9_.-]+)\s*$", f.read(), re.MULTILINE)
    return match.group(1) if match else None


def check_dashboard(path, allowed, datasource_uid, errors, used):
    """Appends problems with one dashboard JSON file to `errors`."""
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        errors.append(f"{path}: not valid JSON: {e}")
        return
    name = os.path.basename(path)
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in dashboard:
            errors.append(f"{name}: missing top-level key {key!r}")
    if not isinstance(dashboard.get("panels"), list) or not dashboard.get("panels"):
        errors.append(f"{name}: no panels")
        return

    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds_var = variables.get("datasource")
    if ds_var is None:
        errors.append(f"{name}: no 'datasource' template variable")
    else:
        default = ds_var.get("current", {}).get("value")
        if datasource_uid and default != datasource_uid:
            errors.append(f"{name}: datasource variable defaults to {default!r}, "
                          f"provisioned uid is {datasource_uid!r}")

    ids = set()
    panels = list(dashboard["panels"])
    for panel in dashboard["panels"]:
        panels.extend(panel.get("panels", []))  # panels inside collapsed rows
    for panel in panels:
        title = panel.get("title", "?")
        where = f"{name}: panel {panel.get('id')} {title!r}"
        if panel.get("id") in ids:
            errors.append(f"{where}: duplicate panel id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")):
            errors.append(f"{where}: gridPos needs integer x, y, w, h")
        elif grid["x"] < 0 or grid["w"] <= 0 or grid["x"] + grid["w"] > _GRID_COLUMNS:
            errors.append(f"{where}: gridPos outside the {_GRID_COLUMNS}-column grid")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets") or []
        if not targets:
            errors.append(f"{where}: no queries")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids):
            errors.append(f"{where}: duplicate refId")
        for target in targets:
            _check_expr(f"{where} query {target.get('refId')}", target.get("expr"), allowed,
                        errors, used)

    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("builtIn"):
            continue
        _check_expr(f"{name}: annotation {annotation.get('name')!r}", annotation.get("expr"),
                    allowed, errors, used)
    for variable in variables.values():
        query = variable.get("query")
        if variable.get("type") == "query":
            text = query.get("query") if isinstance(query, dict) else query
            _check_expr(f"{name}: variable {variable.get('name')!r}", text, allowed, errors, used)


def check_rule_file(path, allowed, errors, used):
    """Every perennial_* name anywhere in a rules (or rule test) file must be in the contract."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            for name in _METRIC_REF.findall(line):
                used.add(name)
                if name not in allowed:
                    errors.append(f"{path}:{number}: metric {name} is not in {METRICS_DOC}")


def run(root, verbose=False):
    """Returns the list of problems found under `root` (empty: all consistent)."""
    errors = []
    used = set()
    contract = load_contract(os.path.join(root, METRICS_DOC))
    if len(contract) < 10:
        return [f"{METRICS_DOC}: found only {len(contract)} metrics in its tables; "
                "did the table format change?"]
    allowed = allowed_names(contract)
    datasource_uid = _provisioned_datasource_uid(root)
    if datasource_uid is None:
        errors.append(f"{DATASOURCE_PROVISIONING}: no uid")
    dashboard_dir = os.path.join(root, DASHBOARD_DIR)
    dashboards = sorted(f for f in os.listdir(dashboard_dir) if f.endswith(".json"))
    if not dashboards:
        errors.append(f"{DASHBOARD_DIR}: no dashboards")
    for dashboard in dashboards:
        check_dashboard(os.path.join(dashboard_dir, dashboard), allowed, datasource_uid, errors,
                        used)
    for rule_file in RULE_FILES:
        check_rule_file(os.path.join(root, rule_file), allowed, errors, used)
    if verbose:
        base = set()
        for name in used:
            for suffix in _HISTOGRAM_SUFFIXES:
                if name.endswith(suffix) and name[: -len(suffix)] in contract:
                    name = name[: -len(suffix)]
            base.add(name)
        base &= set(contract)
        print(f"contract: {len(contract)} metrics; used by dashboards and rules: {len(base)}")
        unused = sorted(set(contract) - base)
        if unused:
            print("in the contract but used nowhere: " + ", ".join(unused))
    return errors


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--root", default=default_root, help="repository root")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    errors = run(args.root, args.verbose)
    for error in errors:
        print("error: " + error, file=sys.stderr)
    if errors:
        print(f"check_dashboard: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("check_dashboard: dashboards and rules match docs/metrics.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
