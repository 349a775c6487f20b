"""Schemathesis against ``/api/v1/openapi.json``: every API operation, fed generated valid and
invalid requests with a token that may push medical feeds and read as a township caseworker,
never answers 500, and every answer conforms to the schema (a documented status, the one error
shape, the response models).

Bounded: a few derandomised examples per operation and mode, no example database, so the run
takes seconds and is the same on every machine. The operations are driven with Hypothesis
directly (``operation.as_strategy``) rather than through schemathesis' pytest plugin, whose
lazy-fixture loader does not work with pytest 9; the checks are schemathesis' own.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from api_support import API, auth, issue
from case_world import build_world
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from doudi.settings import Settings
from doudi.web.app import create_app

EXAMPLES = 20


def _exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    # A generated upload is schema-valid but no feed file: it is refused as such (422, failed
    # load), which the acceptance check would count as a valid request rejected.
    excluded = [positive_data_acceptance] if operation.label == f"POST {API}/feeds/loads" else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    run()


def test_every_api_operation_conforms_to_its_schema_and_never_fails(
    settings: Settings, engine: Engine
) -> None:
    build_world(engine, passwords=())
    headers = auth(issue(engine, "集成测试", kinds="medical", user="worker1"))
    app = create_app(settings.model_copy(update={"max_upload_mb": 1}))
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app).include(path_regex=f"^{API}/")
    # The token is given, not generated (the 401s have tests of their own); unknown query
    # parameters are ignored, as HTTP APIs do, so none are generated as "invalid".
    schema.config.update(headers=headers)
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = sorted(op.label for op in operations)
    # me; feeds: kinds, upload, list, one, quality, quarantine; alerts: list, one; households:
    # search, one, assessment, feed matches
    assert len(labels) == 13, labels
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, headers)
            except Unsatisfiable:  # no parameters to make invalid (GET /me)
                assert mode == GenerationMode.NEGATIVE
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, together
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
