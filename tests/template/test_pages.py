"""template.yaml wiring of the resident pages: their function's routes (no API key) and an IAM policy
granting exactly what a run through both pages and the enrolment uses; the billing API's new route (API
key) and its grant of the link-signing secret."""

import pytest
from aws_lambda_powertools.utilities import parameters

from local.template import SamTemplate
from tests.autopay_fakes import OK_CARD, OK_CARD_2
from tests.pages_support import enrol_post, new_invoice, new_link, page_event, pages, pages_world, token_of
from tests.template.conftest import Grant
from tests.template.test_payme import granted

PAGES = "ResidentPagesFunction"


def test_the_pages_are_served_without_an_api_key_and_the_links_are_asked_for_with_one() -> None:
    routes = {(r.method, r.path): r for r in SamTemplate.load().api_routes()}
    pages_routes = {key for key, r in routes.items() if r.function == PAGES}
    assert pages_routes == {
        ("GET", "/pay/{invoice_id}"),
        ("GET", "/autopay/enrol"),
        ("POST", "/autopay/enrol"),
    }
    assert not any(routes[key].api_key_required for key in pages_routes)
    link = routes["POST", "/apartments/{apartment_id}/autopay-links"]
    assert link.function == "BillingApiFunction" and link.api_key_required
    assert all(r.rest_api == "TolovApi" for r in routes.values() if r.function == PAGES)


def test_the_signing_key_is_a_generated_secret_read_by_the_two_functions_that_sign() -> None:
    template = SamTemplate.load()
    secret = template.resources["LinkSigningKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    readers = {
        name
        for name, function in template.resources_of_type("AWS::Serverless::Function").items()
        for policy in function["Properties"].get("Policies", [])
        if policy.get("AWSSecretsManagerGetSecretValuePolicy", {}).get("SecretArn")
        == {"Ref": "LinkSigningKeySecret"}
    }
    assert readers == {PAGES, "BillingApiFunction"}
    for name in readers:
        variables = template.resources[name]["Properties"]["Environment"]["Variables"]
        assert variables["LINK_SIGNING_KEY_SECRET_ARN"] == {"Ref": "LinkSigningKeySecret"}
        assert variables["PUBLIC_BASE_URL"] == {"Ref": "PublicBaseUrl"}
        assert variables["PAY_PAGE_REQUIRE_SIGNED"] == {"Ref": "PayPageRequireSigned"}


def test_the_pages_policy_grants_exactly_what_they_use(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    calls: set[Grant],  # the recording fixture (tests/template/conftest.py)
) -> None:
    with pages_world(monkeypatch) as fake:
        invoice_id = new_invoice()["invoice_id"]
        token = token_of(new_link()[1]["url"])
        refused, card = fake.add_card(OK_CARD, recurrent=False), fake.add_card(OK_CARD_2)
        parameters.clear_caches()  # the secret read by these requests, not one cached before
        calls.clear()  # what the billing API did to set up is its own business
        assert pages(page_event("/pay/{invoice_id}", {"invoice_id": invoice_id}))[0] == 200
        assert pages(page_event("/pay/{invoice_id}", {"invoice_id": "9999999999"}))[0] == 404
        assert pages(page_event("/autopay/enrol", None, {"t": token}))[0] == 200
        assert enrol_post({"t": token, "card_token": refused})[0] == 422  # the claim given back
        assert enrol_post({"t": token, "card_token": card})[0] == 201
        assert enrol_post({"t": token, "card_token": card})[0] == 200
        assert pages(page_event("/autopay/enrol", None, {"t": token}))[0] == 410
    used = {
        (action, resource) for action, resource in calls if not action.startswith("secretsmanager:Describe")
    }
    grants = granted(PAGES)
    missing = used - grants
    assert not missing, f"the function needs {sorted(missing)}"
    # The Payme key is read by the real Subscribe client's cards.check; here the in-memory fake stands in.
    unused = {
        ("secretsmanager:GetSecretValue", "PaymeKeySecret"),
        ("kms:Encrypt", "AutopayCardKey"),
        ("kms:Decrypt", "AutopayCardKey"),
    }  # KMS calls are not recorded here: the enrolment tests see them
    spare = {g for g in grants - used - unused if g[0] != "secretsmanager:DescribeSecret"}
    assert not spare, f"granted but never used: {sorted(spare)}"
