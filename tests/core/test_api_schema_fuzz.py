"""A schema fuzzer over the live API: every operation of ``/api/schema``, called with generated valid
and invalid data and a real API token; no answer may be a 5xx or disagree with the schema (status
code documented, content type, body shape, and invalid data refused).

Bounded: a few examples per operation and mode, no shrinking, well under a minute in all.

Every check runs but ``positive_data_acceptance`` ("a request the schema allows must get a 2xx"): Loupe
refuses schema-valid requests for reasons OpenAPI cannot state (a metadata key the organisation's
schema does not have, a public key line that is not Ed25519, an item that does not exist, a name
already taken); those are documented 400s with the reason, which the other checks verify.
"""

from __future__ import annotations

import os
import re
import time

import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from apps.core.models import ApiToken
from apps.core.services import api_token_create
from apps.storage.services.folders import folder_create
from tests.encord_compat.helpers import register_images

EXAMPLES_PER_OPERATION = int(os.environ.get("LOUPE_FUZZ_EXAMPLES", 4))  # per generation mode
TIME_BUDGET_S = int(os.environ.get("LOUPE_FUZZ_SECONDS", 50))
DERANDOMIZE = not os.environ.get("LOUPE_FUZZ_RANDOM")  # the same examples every run, unless exploring


_NUMBER_AS_TEXT = re.compile(r"violates `type` at \S+ \(was string, became (number|integer)\)")


def _number_read_as_text(failure) -> bool:
    """DRF's CharField takes a JSON number as its text (``{"name": 5}`` names a token "5"), as most JSON
    APIs do; an invalid request that differs from a valid one only by that is not a refusal we owe."""
    if failure.title != "Schema-violating request accepted":
        return False
    violations = [line for line in failure.message.splitlines() if "violates" in line]
    return bool(violations) and all(_NUMBER_AS_TEXT.search(line) for line in violations)


@pytest.fixture
def api_token(transactional_db, org, make_user):
    alice = make_user(org, email="alice@example.com", role="admin")
    folder = folder_create(user=alice, name="data", organisation=org)
    register_images(alice, folder, 2, {"n": 1})
    token, plaintext = api_token_create(user=alice, name="fuzz")
    # Out of reach of generated ids, so a fuzzed DELETE /api/v1/tokens/{id} cannot revoke the fuzzer's own.
    ApiToken.objects.filter(pk=token.pk).update(id=987_654_321_000)
    return plaintext


def test_the_api_answers_as_its_schema_says_and_never_5xx(live_server, api_token):
    headers = {"Authorization": f"Token {api_token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema?format=json", headers=headers)
    started = time.monotonic()
    calls, server_errors, mismatches = 0, [], []

    def run(operation, mode):
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=DERANDOMIZE,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case):
            nonlocal calls
            if time.monotonic() - started > TIME_BUDGET_S:
                return
            calls += 1
            response = case.call(base_url=live_server.url, headers=headers)
            label = f"{mode.value} {case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                server_errors.append(label)
            try:
                case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])
            except FailureGroup as group:
                curl = case.as_curl_command(base_url=live_server.url)[:600]
                mismatches.extend(f"{label}: {failure.title}: {failure.message[:300]}\n{curl}"
                                  for failure in group.exceptions if not _number_read_as_text(failure))

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
            pass

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            run(operation, mode)
    elapsed = time.monotonic() - started
    print(f"schema fuzz: {len(operations)} operations, {calls} calls, {len(server_errors)} 5xx, "
          f"{len(mismatches)} mismatches, {elapsed:.1f} s")

    assert server_errors == []
    assert mismatches == [], "\n\n".join(mismatches)
    assert elapsed < TIME_BUDGET_S
    # 5: organisation members (list, add, read, re-role, remove); 1: explore search; 5: saved views (list,
    # create, open, patch, delete); 4: explore bulk-edit, move, trash, export; 2: explore facets, count;
    # 4: similarity projection points, status, values, recompute; 3: similarity duplicates list, scan, resolve
    assert len(operations) == 54 + 5 + 1 + 5 + 4 + 2 + 4 + 3
