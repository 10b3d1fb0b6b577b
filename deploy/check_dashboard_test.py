#!/usr/bin/python3
"""Tests for deploy/check_dashboard.py: the shipped files pass, and broken copies fail.

Run from anywhere: /usr/bin/python3 deploy/check_dashboard_test.py
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import check_dashboard  # noqa: E402

DASHBOARD = os.path.join(check_dashboard.DASHBOARD_DIR, "perennial.json")


class CheckDashboardTest(unittest.TestCase):

    def setUp(self):
        # A scratch copy of exactly the files the checker reads.
        self.root = tempfile.mkdtemp(prefix="check_dashboard_test_")
        paths = [check_dashboard.METRICS_DOC, check_dashboard.DATASOURCE_PROVISIONING, DASHBOARD]
        paths += list(check_dashboard.RULE_FILES)
        for path in paths:
            os.makedirs(os.path.join(self.root, os.path.dirname(path)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, path), os.path.join(self.root, path))

    def tearDown(self):
        shutil.rmtree(self.root)

    def _edit_dashboard(self, edit):
        path = os.path.join(self.root, DASHBOARD)
        with open(path) as f:
            dashboard = json.load(f)
        edit(dashboard)
        with open(path, "w") as f:
            json.dump(dashboard, f)

    def _first_query_panel(self, dashboard):
        return next(p for p in dashboard["panels"] if p.get("targets"))

    def test_contract_parses_every_table(self):
        contract = check_dashboard.load_contract(os.path.join(ROOT, check_dashboard.METRICS_DOC))
        self.assertEqual(contract["perennial_ingest_samples_total"], "counter")
        self.assertEqual(contract["perennial_query_latency_seconds"], "histogram")
        self.assertEqual(contract["perennial_zero_shot_retention_ratio"], "gauge")
        self.assertEqual(contract["perennial_process_resident_memory_bytes"], "gauge")
        self.assertGreaterEqual(len(contract), 30)
        allowed = check_dashboard.allowed_names(contract)
        self.assertIn("perennial_query_latency_seconds_bucket", allowed)
        self.assertNotIn("perennial_model_version_bucket", allowed)

    def test_shipped_files_pass(self):
        self.assertEqual(check_dashboard.run(ROOT), [])

    def test_copy_passes(self):
        self.assertEqual(check_dashboard.run(self.root), [])

    def test_unknown_metric_in_panel_fails(self):
        def edit(d):
            self._first_query_panel(d)["targets"][0]["expr"] = "perennial_made_up_total"
        self._edit_dashboard(edit)
        errors = check_dashboard.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("perennial_made_up_total is not in docs/metrics.md", errors[0])

    def test_histogram_suffix_on_gauge_fails(self):
        def edit(d):
            self._first_query_panel(d)["targets"][0]["expr"] = (
                "rate(perennial_model_version_bucket[5m])")
        self._edit_dashboard(edit)
        self.assertEqual(len(check_dashboard.run(self.root)), 1)

    def test_empty_query_and_unbalanced_query_fail(self):
        def edit(d):
            panels = [p for p in d["panels"] if p.get("targets")]
            panels[0]["targets"][0]["expr"] = ""
            panels[1]["targets"][0]["expr"] = "sum(rate(perennial_learner_steps_total[5m])"
        self._edit_dashboard(edit)
        errors = check_dashboard.run(self.root)
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("empty query", errors[0])
        self.assertIn("unbalanced", errors[1])

    def test_duplicate_panel_id_and_bad_grid_fail(self):
        def edit(d):
            d["panels"][2]["id"] = d["panels"][1]["id"]
            d["panels"][3]["gridPos"]["x"] = 20
            d["panels"][3]["gridPos"]["w"] = 8
        self._edit_dashboard(edit)
        errors = check_dashboard.run(self.root)
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("duplicate panel id", errors[0])
        self.assertIn("24-column grid", errors[1])

    def test_datasource_mismatch_fails(self):
        def edit(d):
            for v in d["templating"]["list"]:
                if v["name"] == "datasource":
                    v["current"]["value"] = "someone-elses-prometheus"
        self._edit_dashboard(edit)
        errors = check_dashboard.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("provisioned uid is 'perennial-prometheus'", errors[0])

    def test_malformed_json_fails(self):
        with open(os.path.join(self.root, DASHBOARD), "a") as f:
            f.write("}")
        errors = check_dashboard.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("not valid JSON", errors[0])

    def test_unknown_metric_in_rules_fails(self):
        path = os.path.join(self.root, check_dashboard.RULE_FILES[0])
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("perennial_forgetting_ratio", "perennial_forgeting_ratio"))
        errors = check_dashboard.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("perennial_forgeting_ratio", errors[0])
        self.assertIn("alerts.yml:", errors[0])


if __name__ == "__main__":
    unittest.main()
