"""Property run over the OpenAPI schema (schemathesis): whatever a client sends to any operation, valid
or not, the service answers without a 5xx and without a traceback. Bounded: a few examples each."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from service_support import TOKEN, SceneStore

from condsim.service import create_app

EXAMPLES = 10


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_operation_answers_5xx(scene_store: SceneStore, mode: GenerationMode) -> None:
    # with a token, so the in-process client's Host header ("testserver") is accepted
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(scene_store.store, token=TOKEN))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/api/similar", "/api/search", "/api/images/{id}"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not list(operation.iter_parameters()) and not operation.body:
            continue  # nothing to get wrong (GET /api/health, POST /api/index, ...)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        def answers_without_5xx(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            answer = f"{response.status_code} {response.content[:300]!r}"
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query}: {answer}"
            assert b"Traceback" not in response.content

        answers_without_5xx()
