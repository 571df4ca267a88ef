"""/api/openapi.json: every API route is in it, built from the request models."""

from __future__ import annotations

import pytest

from server.web.api.clients import ClientCreate
from server.web.openapi import OPERATIONS

# The API document: nothing here depends on which database answers.
pytestmark = pytest.mark.sqlite_only


async def test_the_document_names_every_api_route_and_is_public(client, office):
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    routes = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/api/") and route.method != "HEAD":
            routes.add((route.method, path))
    assert routes - set(OPERATIONS) == set(), "add the route to server/web/openapi.py OPERATIONS"
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == routes


async def test_bodies_are_the_validating_models(client, office):
    doc = await (await client.get("/api/openapi.json")).json()
    body = doc["paths"]["/api/clients"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ClientCreate"}
    schema = doc["components"]["schemas"]["ClientCreate"]
    interval = next(b for b in schema["properties"]["reporting_interval_days"]["anyOf"] if b["type"] == "integer")  # optional: absent means stages
    assert interval["maximum"] == ClientCreate.model_fields["reporting_interval_days"].metadata[1].le
    assert schema.get("additionalProperties") is False  # unknown fields are refused, as the server does
    trail = {p["name"]: p for p in doc["paths"]["/api/audit/trail"]["get"]["parameters"]}
    assert trail["before_seq"]["schema"]["maximum"] == 2**31 - 1  # what an integer column holds on PostgreSQL
