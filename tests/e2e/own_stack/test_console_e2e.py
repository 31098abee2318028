"""The operator console in a real browser (Debian's Chromium driven by Playwright).

The local stack of this folder's own (its failure queues hold only what these
tests and the failure drill put there), the console as ``scripts/console.py
--aws-port`` runs it, and a headless Chromium. Screenshots of every page go to
``$CONSOLE_SCREENSHOTS`` (``make console-screenshots``: docs/console) or to
the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local_aws.stack_process import LocalStackProcess, free_port, wait_for
from tests.e2e.api import pool_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = ROOT / ".tools" / "console" / "node_modules" / "axe-core" / "axe.min.js"

if CHROMIUM is None:
    pytest.skip(
        "browser tests skipped: no Chromium on this machine (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

# The stack shares a loaded machine: a page's data may take seconds (never a timed assertion).
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def console(
    local_stack: LocalStackProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """GIVEN the console on that stack, as an operator starts it; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("console") / "console.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts" / "console.py"),
                "--aws-port",
                str(local_stack.aws_port),
                "--state-dir",
                str(local_stack.state_dir),
                "--port",
                str(port),
                "--no-browser",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{url}/failures/queues", timeout=5).status_code == 200
        except requests.ConnectionError:
            return process.poll() is not None

    try:
        wait_for(answers, timeout=60)
        assert process.poll() is None, log.read_text()
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = ROOT / target if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Person:
    """Someone who registered through the API, with their own token."""

    def __init__(self, stack: LocalStackProcess, **flags: Any) -> None:
        self.stack = stack
        email = f"console-{uuid.uuid4().hex[:8]}@example.com"
        self.email = email
        self.headers = {"Authorization": f"Bearer {pool_of(stack).token(email)}"}
        body = {"name": "Ada", "lastname": "Console", "email": email, "address": "1 Loop Road"}
        self.user = self.post("/users", body | flags)
        self.id = str(self.user["id"])

    def post(self, path: str, body: dict[str, Any] | None, method: str = "POST") -> dict[str, Any]:
        response = requests.request(
            method, f"{self.stack.api_url}{path}", json=body, headers=self.headers, timeout=30
        )
        assert response.status_code in (200, 201, 202), response.text
        return dict(response.json())

    def created_event_id(self) -> str:
        item = self.stack.client("dynamodb").get_item(
            TableName=self.stack.name("ledger"),
            Key={"aggregate_id": {"S": self.id}, "version": {"N": "1"}},
            ConsistentRead=True,
        )["Item"]
        return str(json.loads(item["event"]["S"])["id"])


@pytest.fixture(scope="module")
def account(local_stack: LocalStackProcess) -> dict[str, Any]:
    """GIVEN a person whose account was opened, deposited into 3 times, withdrawn from once."""
    person = Person(local_stack, loyalty=True, consents={"marketing": True})
    opened = person.post("/accounts", {"currency": "EUR"})
    balances = ["0.00"]
    for amount in ("10.00", "20.00", "30.00"):
        balances.append(
            person.post(f"/accounts/{opened['id']}/deposits", {"amount": amount})["balance"]
        )
    balances.append(
        person.post(f"/accounts/{opened['id']}/withdrawals", {"amount": "5.00"})["balance"]
    )
    # and who bought something, then changed their mind about marketing and loyalty
    person.post(
        f"/users/{person.id}/purchases", {"order_id": "o-1", "amount": "42.00", "currency": "EUR"}
    )
    person.post(f"/users/{person.id}/consents", {"marketing": False}, "PUT")
    person.post(f"/users/{person.id}/loyalty", {"member": False}, "PUT")
    return {"id": opened["id"], "person": person, "balances": balances}


def test_the_time_machine_shows_the_state_at_the_version_the_slider_picks(
    console: str, page: Page, account: dict[str, Any], shots: Path
) -> None:
    # GIVEN the account found by its id
    page.goto(f"{console}/accounts")
    page.get_by_label("Account id or owner id").fill(account["id"])
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(account["id"])
    # WHEN the operator moves the slider with the keyboard to version 3
    slider = page.get_by_label("Version")
    slider.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    # THEN the state shown is version 3's: the balance after the second deposit
    expect(page.get_by_test_id("state-version")).to_have_text("3")
    expect(page.get_by_test_id("state-balance")).to_have_text(f"{account['balances'][2]} EUR")
    assert account["balances"][2] == "30.00"
    # AND the chart has a point per event, the timeline a row per event
    expect(page.locator("#balance-chart")).to_have_attribute("data-points", "5")
    expect(page.get_by_test_id("timeline").locator("tbody tr")).to_have_count(5)
    page.screenshot(path=str(shots / "account.png"), full_page=True)


def test_the_time_machine_answers_for_an_instant_as_the_api_does(
    console: str, page: Page, account: dict[str, Any]
) -> None:
    # GIVEN the account's page
    page.goto(f"{console}/accounts/{account['id']}")
    # WHEN the operator asks for an instant before the account existed
    page.get_by_label("Instant (UTC)").fill("2001-01-01T00:00:00")
    page.get_by_role("button", name="Show state at this instant").click()
    # THEN the page says so, as GET /accounts/{id}?at= does (404)
    expect(page.locator("#state")).to_contain_text("did not exist at 2001-01-01")


def test_a_registrations_trace_turns_every_hop_green(
    console: str, page: Page, local_stack: LocalStackProcess, shots: Path
) -> None:
    # GIVEN a registration every consumer is subscribed to
    person = Person(local_stack, loyalty=True, consents={"marketing": True})
    event_id = person.created_event_id()
    # WHEN the operator traces its event
    page.goto(f"{console}/trace")
    page.get_by_label("Event id").fill(event_id)
    page.get_by_role("button", name="Trace").click()
    # THEN within the timeout every hop is done
    expect(page.locator("#hops")).to_have_attribute("data-done", "true", timeout=120_000)
    hops = page.locator(".hop")
    names = hops.evaluate_all("els => els.map(e => e.dataset.hop)")
    assert names[:5] == ["ledger", "relay", "stream", "archive", "index"]
    assert {"consumer loyalty", "consumer gdpr", "consumer crm", "consumer projector"} <= set(names)
    found = hops.evaluate_all("els => els.map(e => e.dataset.state)")
    states = dict(zip(names, found, strict=True))
    # AND every hop is green but identity deletion's, whose filter keeps it to erasures
    assert {name for name, state in states.items() if state != "ok"} == {"consumer identity"}
    assert states["consumer identity"] == "skipped"
    page.screenshot(path=str(shots / "trace.png"), full_page=True)


def _depth(page: Page, queue: str) -> Any:
    return page.locator(f'tr[data-queue="{queue}"] [data-testid="depth"]')


def test_a_failed_message_shows_and_redrive_applies_it(
    console: str, page: Page, local_stack: LocalStackProcess, shots: Path
) -> None:
    dlq = local_stack.name("gdpr-consents-dlq")
    switch = local_stack.state_dir / "faults.json"
    try:
        # GIVEN the GDPR consumer faulted by the drill's switch, and a registration
        switch.write_text(json.dumps({"gdpr": "consent store unavailable (console test)"}))
        person = Person(local_stack, loyalty=False, consents={"marketing": False})
        event_id = person.created_event_id()
        # WHEN its retries are exhausted, THEN the failures page shows it by itself
        page.goto(f"{console}/failures")
        expect(_depth(page, dlq)).to_have_text("1", timeout=150_000)
        expect(page.locator(f'tr[data-queue="{dlq}"]')).to_contain_text(event_id)
        page.screenshot(path=str(shots / "failures.png"), full_page=True)
    finally:
        switch.unlink(missing_ok=True)
    # WHEN the fault is cleared and the operator redrives, confirming
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-queue="{dlq}"]').get_by_role("button", name="Redrive").click()
    # THEN the queue is empty and the consumer applied the event
    expect(page.get_by_test_id("redrive-result")).to_contain_text("moved 1 message", timeout=60_000)
    expect(_depth(page, dlq)).to_have_text("0", timeout=60_000)
    consents = f"{local_stack.api_url}/gdpr/consents/{person.id}"
    wait_for(
        lambda: requests.get(consents, headers=person.headers, timeout=10).status_code == 200,
        timeout=60,
    )


def test_redrive_refuses_a_request_without_the_consoles_token(
    console: str, local_stack: LocalStackProcess
) -> None:
    url = f"{console}/failures/{local_stack.name('gdpr-consents-dlq')}/redrive"
    # WHEN another site's page posts to the redrive URL (no token, or a foreign origin)
    bare = requests.post(url, timeout=10)
    token = requests.get(f"{console}/failures", timeout=10).text.split('"X-CSRF-Token": "')[1]
    foreign = requests.post(
        url,
        headers={"X-CSRF-Token": token.split('"')[0], "Origin": "http://evil.example"},
        timeout=10,
    )
    # THEN both are refused; and a Host that is not the loopback is refused too
    assert (bare.status_code, foreign.status_code) == (403, 403)
    assert requests.get(console, headers={"Host": "evil.example"}, timeout=10).status_code == 400


def test_the_time_machine_warns_when_the_read_model_disagrees_with_the_ledger(
    console: str, page: Page, local_stack: LocalStackProcess
) -> None:
    # GIVEN an account whose read-model row was projected, then damaged by hand
    person = Person(local_stack)
    opened = person.post("/accounts", {"currency": "EUR"})
    person.post(f"/accounts/{opened['id']}/deposits", {"amount": "10.00"})
    dynamodb = local_stack.client("dynamodb")
    key = {"pk": {"S": f"account#{opened['id']}"}}
    table = local_stack.name("read-models")

    def projected() -> bool:
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return bool(item) and item["version"]["N"] == "2"

    wait_for(projected, timeout=60)
    page.goto(f"{console}/accounts/{opened['id']}")
    expect(page.get_by_test_id("read-model-check")).to_contain_text("agrees")
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET balance_cents = :c, balance = :b",
        ExpressionAttributeValues={":c": {"N": "99900"}, ":b": {"S": "999.00"}},
    )
    # WHEN the operator opens the account
    page.goto(f"{console}/accounts/{opened['id']}")
    # THEN a warning says the read model disagrees with the ledger's fold
    check = page.get_by_test_id("read-model-check")
    expect(check).to_contain_text("Warning")
    expect(check).to_contain_text("disagrees")
    expect(check).to_have_attribute("role", "alert")


def test_the_person_page_shows_no_personal_data_after_erasure(
    console: str, page: Page, local_stack: LocalStackProcess
) -> None:
    # GIVEN a person the console shows with their personal data
    person = Person(local_stack, loyalty=True)
    page.goto(f"{console}/people/{person.id}")
    expect(page.get_by_test_id("personal-data")).to_contain_text("1 Loop Road")
    # WHEN they are erased
    person.post(f"/gdpr/erasure/{person.id}", None)
    page.goto(f"{console}/people/{person.id}")
    # THEN the page says so, shows the lifecycle, and no personal field
    expect(page.get_by_test_id("erased")).to_be_visible()
    expect(page.get_by_test_id("lifecycle")).to_contain_text("erased")
    assert page.get_by_test_id("personal-data").count() == 0
    content = page.content()
    assert "1 Loop Road" not in content
    assert person.email not in content


def test_people_are_found_by_id_and_what_is_typed_stays_out_of_the_url(
    console: str, page: Page, account: dict[str, Any]
) -> None:
    person: Person = account["person"]
    # WHEN the operator types an email instead of an id
    page.goto(f"{console}/people")
    page.get_by_label("User id").fill(person.email)
    page.get_by_role("button", name="Open").click()
    # THEN it is refused, and neither the URL nor the page holds it
    expect(page.get_by_role("alert")).to_contain_text("not a user id")
    assert person.email not in page.url and person.email not in page.content()
    # WHEN the operator types the id, THEN the person's page opens
    page.get_by_label("User id").fill(person.id)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(person.id)
    expect(page.get_by_test_id("lifecycle")).to_contain_text("consents changed")


def _urls(console: str, account: dict[str, Any]) -> dict[str, str]:
    person: Person = account["person"]
    return {
        "accounts": f"{console}/accounts?q={person.id}",
        "account": f"{console}/accounts/{account['id']}",
        "person": f"{console}/people/{person.id}",
        "trace": f"{console}/trace?event_id={person.created_event_id()}&subject={person.id}",
        "failures": f"{console}/failures",
        "flow": f"{console}/flow",
    }


def _settle(page: Page, name: str) -> None:
    if name == "trace":
        expect(page.locator("#hops")).to_have_attribute("data-done", "true", timeout=120_000)
    if name == "flow":
        expect(page.locator("body")).to_have_attribute("data-flow-loaded", "true", timeout=90_000)
    if name in ("account", "person"):
        expect(page.locator(".chart canvas").first).to_be_visible()


def test_every_page_renders_under_its_csp_and_is_captured(
    console: str, browser: Browser, account: dict[str, Any], shots: Path
) -> None:
    # GIVEN a browser that enforces the console's Content-Security-Policy
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: violations.append(str(e)))
    try:
        for name, url in _urls(console, account).items():
            # WHEN each page is opened
            response = page.goto(url)
            _settle(page, name)
            # THEN it loaded with the strict policy, broke none of it, and is captured
            assert response is not None and response.status == 200, name
            assert "script-src 'self'" in response.headers["content-security-policy"]
            if name != "failures":  # its test captures it with a message waiting
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert violations == []
    finally:
        context.close()


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    console: str, browser: Browser, account: dict[str, Any]
) -> None:
    # GIVEN axe-core (npm, installed by make install) injected into each page
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for name, url in _urls(console, account).items():
            page.goto(url)
            _settle(page, name)
            page.add_script_tag(path=str(AXE))
            # WHEN axe checks the page
            results = page.evaluate("async () => (await axe.run(document)).violations")
            serious = [
                f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
                for v in results
                if v.get("impact") in ("serious", "critical")
            ]
            if serious:
                found[name] = serious
        # THEN none is serious or critical
        assert found == {}
    finally:
        context.close()
