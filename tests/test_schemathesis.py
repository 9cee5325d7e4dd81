"""Our OpenAPI document, fuzzed: every GET operation answers without a server error and as the
document says (issue 7, "What CI must prove").

schemathesis (pinned, in .venv-schemathesis: scripts/setup_conformance_tools.sh) reads the
document the running server publishes, resolved with no network (twin/openapi_bundle.py), and
runs the checks ``not_a_server_error`` and ``response_schema_conformance`` over valid and
invalid inputs. `make test` runs a short pass; `make fuzz` a long one (TWIN_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import Server
from twin.registry import COLLECTIONS
from twin.settings import PROJECT_ROOT

# Reads the samples only: the session's shared database and server (tests/conftest.py).
pytestmark = pytest.mark.samples_read_only

SCHEMATHESIS = PROJECT_ROOT / ".venv-schemathesis" / "bin" / "schemathesis"
CHECKS = "not_a_server_error,response_schema_conformance"
#: Test cases per operation and phase; the coverage phase adds its own boundary cases.
EXAMPLES = int(os.environ.get("TWIN_FUZZ_EXAMPLES", "5"))
#: Same inputs every run, so a failure in CI reproduces locally (make fuzz varies it).
SEED = os.environ.get("TWIN_FUZZ_SEED", "1")


def _config(server: Server) -> str:
    """schemathesis.toml: half of the featureIds drawn from real features, so the item
    operations are fuzzed on answers with content, not only on 404s."""
    lines, named = [], []
    for c in COLLECTIONS:
        body = server.get(f"/collections/{c.id}/items", params={"limit": 5}).json()
        ids = [str(f["id"]) for f in body["features"]]
        assert ids, c.id
        # schemathesis 4.32 does not send a path value holding "/" as given (traffic-counts'
        # "station/time" ids): those items are checked by the schema test below instead.
        if all("/" not in i for i in ids):
            lines += [f"[dictionaries.{c.id}]", f"values = {json.dumps(ids)}", ""]
            named.append(c)
    for c in named:
        binding = f'{{ dictionary = "{c.id}", probability = 0.5 }}'
        lines += ["[[operations]]", f'include-path = "/collections/{c.id}/items/{{featureId}}"',
                  f'parameters = {{ "path.featureId" = {binding} }}', ""]
    return "\n".join(lines)


def _schemathesis(server: Server, tmp_path) -> subprocess.CompletedProcess:
    assert SCHEMATHESIS.exists(), f"{SCHEMATHESIS} missing: run `make test-tools`"
    (tmp_path / "schemathesis.toml").write_text(_config(server), encoding="utf-8")
    args = [str(SCHEMATHESIS), "run", f"{server.url}/openapi?f=json", "--url", server.url,
            "--include-method", "GET", "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES),
            "--seed", SEED, "--workers", "2", "--request-timeout", "60",
            "--generation-database", "none", "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path)]
    # Run in tmp_path: its schemathesis.toml is ours, none of a parent folder is read.
    return subprocess.run(args, capture_output=True, text=True, timeout=600 + 20 * EXAMPLES,
                          cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})


def test_every_get_operation_survives_fuzzing_and_matches_the_document(
        server: Server, tmp_path) -> None:
    doc = server.get("/openapi?f=json").json()
    gets = [p for p, item in doc["paths"].items() if "get" in item]
    assert len(gets) >= 5 * len(COLLECTIONS)  # collection, items, item, queryables, schema
    run = _schemathesis(server, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-20000:]
    # Every GET operation of the document was exercised, none was left out by an error.
    assert f"Tested: {len(gets)}" in out, out[-3000:]
    assert " passed" in out, out[-3000:]


def _draft4(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema draft 4: ``nullable`` becomes a null alternative."""
    if isinstance(node, dict):
        plain = {k: _draft4(v) for k, v in node.items() if k != "nullable"}
        return {"anyOf": [plain, {"type": "null"}]} if node.get("nullable") else plain
    if isinstance(node, list):
        return [_draft4(v) for v in node]
    return node


def test_features_without_geometry_match_the_documented_schema(server: Server) -> None:
    # skipGeometry=true answers "geometry": null (RFC 7946 3.2), which the vendored OGC
    # featureGeoJSON refused, so the document contradicted our own answers.
    doc = _draft4(server.get("/openapi?f=json").json())
    base = server.url + "/openapi"
    registry = Registry().with_resource(base, Resource.from_contents(
        doc, default_specification=DRAFT4))
    schema = {"$ref": f"{base}#/components/schemas/featureCollectionGeoJSON"}
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    for name in (c.id for c in COLLECTIONS):
        for params in ({"skipGeometry": "true"}, {}):
            body = server.get(f"/collections/{name}/items", params={**params, "limit": 3}).json()
            assert body["features"], (name, params)
            assert all((f["geometry"] is None) == bool(params) for f in body["features"])
            errors = [e.message for e in validator.iter_errors(body)]
            assert not errors, (name, params, errors[:3])
        # One feature by its id (escaped: traffic-counts' ids hold "/").
        fid = quote(str(body["features"][0]["id"]), safe="")
        answer = server.get(f"/collections/{name}/items/{fid}")
        assert answer.status_code == 200, (name, fid, answer.text[:300])
        feature = {"$ref": f"{base}#/components/schemas/featureGeoJSON"}
        errors = [e.message for e in jsonschema.Draft4Validator(
            feature, registry=registry).iter_errors(answer.json())]
        assert not errors, (name, fid, errors[:3])
