#!/usr/bin/python3
"""Tests for deploy/check_manifests.py: the shipped files pass, and broken copies fail.

Run from anywhere: /usr/bin/python3 deploy/check_manifests_test.py
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import check_manifests  # noqa: E402


class CheckManifestsTest(unittest.TestCase):

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="check_manifests_test_")
        shutil.copytree(os.path.join(ROOT, "deploy"), os.path.join(self.root, "deploy"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        if os.path.exists(os.path.join(ROOT, check_manifests.SERVER_MAIN)):
            os.makedirs(os.path.join(self.root, "server"))
            shutil.copy(os.path.join(ROOT, check_manifests.SERVER_MAIN),
                        os.path.join(self.root, check_manifests.SERVER_MAIN))

    def tearDown(self):
        shutil.rmtree(self.root)

    def _replace(self, rel, old, new):
        path = os.path.join(self.root, rel)
        with open(path) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))

    def test_shipped_files_pass(self):
        errors, _ = check_manifests.run(ROOT)
        self.assertEqual(errors, [])

    def test_bad_yaml_fails(self):
        self._replace("deploy/k8s/service.yaml", "  type: ClusterIP", "  type: [ClusterIP")
        errors, _ = check_manifests.run(self.root)
        self.assertTrue(any("does not parse" in e for e in errors), errors)

    def test_probe_on_wrong_port_fails(self):
        self._replace("deploy/k8s/statefulset.yaml", "          readinessProbe:\n            grpc:\n"
                      "              port: 50051", "          readinessProbe:\n            grpc:\n"
                      "              port: 9464")
        errors, _ = check_manifests.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("readinessProbe is not a gRPC health probe", errors[0])

    def test_service_targeting_unknown_port_fails(self):
        self._replace("deploy/k8s/service.yaml", "targetPort: metrics", "targetPort: metricz")
        errors, _ = check_manifests.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("targets unknown port metricz", errors[0])

    def test_compose_mount_of_missing_file_fails(self):
        os.remove(os.path.join(self.root, "deploy/prometheus/alerts.yml"))
        errors, _ = check_manifests.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("mounts ./prometheus/alerts.yml", errors[0])

    @unittest.skipUnless(os.path.exists(os.path.join(ROOT, check_manifests.SERVER_MAIN)),
                         "server/main.cc not there yet")
    def test_unknown_server_flag_fails(self):
        self._replace("deploy/systemd/perennial.service", "--data-dir=", "--datadir=")
        errors, _ = check_manifests.run(self.root)
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("--datadir is not a flag of perennial-server", errors[0])


if __name__ == "__main__":
    unittest.main()
