"""The pages in a real headless Chromium against the live server: the main journeys of each role.

The Celery tasks a page enqueues are run by the test thread (the ``task_queue`` fixture), through
the same task functions a worker runs, while the browser polls the page as a user would.
Screenshots of the main pages land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from audit.models import AuditEvent
from gateway.models import DatasetRequest

from .conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

WAIT_SECONDS = 60


@pytest.fixture(autouse=True)
def task_queue(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Celery's ``delay`` records the call; ``drain()`` runs the queued tasks here, as a worker would.

    Page requests stay fast (a web request never runs the pipeline), while the browser, polling,
    watches the state move as the test thread works through the queue. Nothing reaches a broker.
    """
    from gateway import tasks

    queue: list[tuple[Any, tuple[Any, ...]]] = []
    for name in ("dataset_request_generate", "generation_chunk_run", "dataset_request_screen",
                 "dataset_request_gate", "dataset_release"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "delay", lambda *args, _task=task: queue.append((_task, args)))

    def drain() -> list[str]:
        ran = []
        while queue:
            task, args = queue.pop(0)
            task.run(*args)
            ran.append(task.name.rsplit(".", 1)[-1])
        return ran

    return drain


def _by(css: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    return (By.CSS_SELECTOR, css)


def _wait(driver: Any, condition: Any, timeout: float = WAIT_SECONDS) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page that navigates while we look leaves stale elements behind: look again.
    return WebDriverWait(driver, timeout, poll_frequency=0.25,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def _text_is(css: str, text: str) -> Any:
    def check(driver: Any) -> bool:
        elements = driver.find_elements(*_by(css))
        return bool(elements) and elements[0].text.strip() == text

    return check


def follow(driver: Any, element: Any) -> None:
    """Click ``element`` and wait until the page it leads to has loaded.

    A click that submits a form or follows a link returns before the browser has left the page,
    so looking up an element right after it may find the old page's copy. The old page is marked;
    the new one is loaded once the mark is gone and the document is complete.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__leaving = true;")
    element.click()

    def arrived(d: Any) -> bool:
        return bool(d.execute_script("return !window.__leaving && document.readyState === 'complete';"))

    # While the browser navigates, the driver may answer with an error about the vanishing page: look again.
    WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1, ignored_exceptions=(WebDriverException,)).until(arrived)


def login(driver: Any, base: str, username: str) -> None:
    driver.get(base + "/accounts/login/")
    driver.find_element(*_by("#id_username")).send_keys(username)
    driver.find_element(*_by("#id_password")).send_keys(f"pw-{username}-123456")
    driver.find_element(*_by("#login-submit")).click()
    _wait(driver, lambda d: d.current_url.rstrip("/") == base and d.find_elements(*_by("#logout")))


def select(driver: Any, css: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(*_by(css))).select_by_value(value)


def test_requester_submits_and_watches_progress_reach_release(
    live_server: Any, browser_factory: Any, people: dict[str, Any], policy_version: Any, task_queue: Any
) -> None:
    base = live_server.url
    requester = browser_factory()
    login(requester, base, "req")
    follow(requester, requester.find_element(*_by("#nav-new")))
    requester.find_element(*_by("#id_title")).send_keys("零售银行客服对话")
    requester.find_element(*_by("#id_purpose")).send_keys("fine-tune the branch assistant")
    select(requester, "#id_legal_basis", "contract")
    requester.find_element(*_by("#id_domain")).send_keys("retail banking")
    size = requester.find_element(*_by("#id_size"))
    size.clear()
    size.send_keys("8")
    select(requester, "#id_policy_version", str(policy_version.pk))
    screenshot(requester, "requester-new-request")
    requester.find_element(*_by("#save-draft")).click()

    _wait(requester, lambda d: d.find_elements(*_by("#estimate")))
    assert requester.find_element(*_by("#estimate-cost")).text.strip() == "0"
    assert int(requester.find_element(*_by("#estimate-tokens")).text.strip()) > 0
    assert requester.find_element(*_by("#request-state")).text == "Draft"
    screenshot(requester, "requester-draft-with-estimate")
    requester.find_element(*_by("#submit-request")).click()
    _wait(requester, _text_is("#request-state", "Submitted"))

    request = DatasetRequest.objects.get(title="零售银行客服对话")
    ran = task_queue()
    assert ran[0] == "dataset_request_generate" and ran[-2:] == ["dataset_request_screen", "dataset_request_gate"]
    # The open page follows by polling: no reload.
    _wait(requester, _text_is("#request-state", "Awaiting approval"))
    request.refresh_from_db()
    assert request.state == "awaiting_approval", request.state_reason
    assert requester.find_element(*_by('[data-field="done"]')).text == "8"
    assert requester.find_element(*_by('[data-field="total"]')).text == "8"
    screenshot(requester, "requester-awaiting-approval")

    # Another person approves; the requester's open page follows by polling, without a reload.
    approver = browser_factory()
    login(approver, base, "appr")
    approver.get(f"{base}/approvals/{request.pk}/")
    approver.find_element(*_by("#id_reason")).send_keys("sample read, gates pass")
    approver.find_element(*_by("#approve")).click()
    _wait(approver, lambda d: d.current_url.endswith(f"/requests/{request.pk}/"))
    assert task_queue() == ["dataset_release"]

    _wait(requester, _text_is("#request-state", "Released"))
    bar = requester.find_element(*_by(".progress .bar"))
    assert bar.get_attribute("aria-valuenow") == "100"
    request.refresh_from_db()
    assert request.state == "released" and request.dataset.record_count >= 1
    requester.refresh()
    link = requester.find_element(*_by("#download"))
    assert link.get_attribute("href").endswith(f"/requests/{request.pk}/download/")
    screenshot(requester, "requester-released")

    requester.get(base + "/requests/")
    row = requester.find_element(*_by(f'tr[data-request="{request.pk}"]'))
    assert "Released" in row.text and "8/8" in row.text.replace(" ", "")
    screenshot(requester, "requester-request-list")


def test_approver_reviews_the_sample_one_by_one_and_approves(
    live_server: Any, browser_factory: Any, people: dict[str, Any], awaiting: Any, task_queue: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    task_queue()  # what the fixtures enqueued has nothing left to do
    base = live_server.url
    driver = browser_factory()
    login(driver, base, "appr")
    follow(driver, driver.find_element(*_by("#nav-approvals")))
    row = driver.find_element(*_by(f'#approval-table tr[data-request="{awaiting.pk}"]'))
    passed_gates = sum(1 for g in awaiting.quality_report.gates if g.get("name") and g.get("passed"))
    assert passed_gates >= 3 and len(row.find_elements(*_by(".badge-pass"))) == passed_gates
    screenshot(driver, "approver-queue")
    follow(driver, row.find_element(*_by("a.button")))

    items = driver.find_elements(*_by(".review-item"))
    assert len(items) == (awaiting.review_items.count() or 6)
    assert [i.is_displayed() for i in items] == [True] + [False] * (len(items) - 1)
    driver.find_element(*_by('[data-review="next"]')).click()
    assert driver.find_element(*_by('[data-review="pos"]')).text == "2"
    assert items[1].is_displayed() and not items[0].is_displayed()
    # Keyboard only: the arrow keys step through the sample from a focused control.
    driver.find_element(*_by('[data-review="next"]')).send_keys(Keys.ARROW_RIGHT)
    assert driver.find_element(*_by('[data-review="pos"]')).text == "3"
    pii_rows = driver.find_elements(*_by("#pii-summary tbody tr"))
    assert pii_rows and all(re.search(r"\d+$", r.text) for r in pii_rows)
    screenshot(driver, "approver-review")

    follow(driver, driver.find_element(*_by("#reject")))  # without a reason: refused, stays waiting
    assert "A rejection needs a reason." in driver.find_element(*_by("#decision-form")).text
    awaiting.refresh_from_db()
    assert awaiting.state == "awaiting_approval"

    driver.find_element(*_by("#id_reason")).send_keys("checked the sample")
    driver.find_element(*_by("#approve")).click()
    _wait(driver, lambda d: d.current_url.endswith(f"/requests/{awaiting.pk}/"))
    awaiting.refresh_from_db()
    assert awaiting.state == "approved"
    assert awaiting.approvals.get().reason == "checked the sample"
    assert task_queue() == ["dataset_release"]
    _wait(driver, _text_is("#request-state", "Released"))
    awaiting.refresh_from_db()
    assert awaiting.state == "released"


def test_the_requester_cannot_approve_their_own_request(
    live_server: Any, browser_factory: Any, people: dict[str, Any], policy_version: Any
) -> None:
    from tests.gateway.helpers import submit_and_run

    own = submit_and_run(people["maker_checker"], policy_version, size=3)
    driver = browser_factory()
    login(driver, live_server.url, "both")
    driver.get(f"{live_server.url}/approvals/{own.pk}/")
    assert "maker-checker" in driver.find_element(*_by("#maker-checker")).text
    assert not driver.find_elements(*_by("#approve"))
    screenshot(driver, "approver-maker-checker")


def test_auditor_filters_the_log_verifies_it_and_reads_the_lineage(
    live_server: Any, browser_factory: Any, people: dict[str, Any], released: Any, awaiting: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    base = live_server.url
    driver = browser_factory()
    login(driver, base, "aud")
    # The first Tab lands on the skip link, which moves focus to the main content.
    driver.find_element(*_by("body")).send_keys(Keys.TAB)
    assert driver.switch_to.active_element.text == "Skip to main content"
    follow(driver, driver.find_element(*_by("#nav-audit")))

    select(driver, "#id_object_type", "dataset_request")
    driver.find_element(*_by("#id_object_id")).send_keys(str(awaiting.pk))
    follow(driver, driver.find_element(*_by("#apply-filters")))
    assert "object_id=" in driver.current_url
    rows = driver.find_elements(*_by("#audit-table tbody tr[data-seq]"))
    expected = AuditEvent.objects.filter(object_type="dataset_request", object_id=str(awaiting.pk)).count()
    assert len(rows) == expected >= 5
    assert all(f"dataset_request:{awaiting.pk}" in r.text for r in rows)
    screenshot(driver, "auditor-log-filtered")

    driver.find_element(*_by("#verify-now")).click()
    result = _wait(driver, lambda d: d.find_elements(*_by("#verify-result")))[0]
    assert result.text.startswith("Chain intact:")
    assert int(re.search(r"(\d+) events checked", result.text).group(1)) >= expected
    screenshot(driver, "auditor-verified")

    rows = driver.find_elements(*_by("#audit-table tbody tr[data-seq] a"))
    follow(driver, rows[0])
    assert len(driver.find_element(*_by("#event-hash")).text) == 64
    screenshot(driver, "auditor-event")

    driver.get(f"{base}/audit/requests/{released.pk}/lineage/")
    nodes = driver.find_elements(*_by("#lineage svg g.lineage-node"))
    assert [n.get_attribute("data-node") for n in nodes] == [
        "sources", "generation", "screening", "gates", "approval", "release"]
    assert all("lineage-done" in n.get_attribute("class") for n in nodes)
    screenshot(driver, "auditor-lineage")


def test_chinese_interface_renders_chinese_labels_and_fits_a_phone(
    live_server: Any, browser_factory: Any, people: dict[str, Any], awaiting: Any
) -> None:
    base = live_server.url
    driver = browser_factory(language="zh-CN,zh", width=390, height=844)
    driver.get(base + "/accounts/login/")
    assert driver.find_element(*_by("h1")).text == "登录"
    login(driver, base, "appr")
    assert driver.find_element(*_by("#nav-approvals")).text == "审批"
    assert driver.find_element(*_by("#nav-requests")).text == "数据申请"
    driver.get(f"{base}/approvals/{awaiting.pk}/")
    page = driver.find_element(*_by("main")).text
    for label in ("质量门禁", "待审批", "完全重复", "扣留率", "产出率", "个人信息摘要", "安全摘要", "批准", "驳回"):
        assert label in page, label
    assert driver.find_element(*_by("html")).get_attribute("lang") == "zh-hans"
    # Nothing wider than the phone's screen: tables scroll inside their own box.
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    screenshot(driver, "zh-approver-review-phone")

    driver.get(f"{base}/requests/")
    row = driver.find_element(*_by(f'tr[data-request="{awaiting.pk}"]'))
    assert "待审批" in row.text
    screenshot(driver, "zh-request-list-phone")


def test_language_switch_changes_the_interface_to_chinese(
    live_server: Any, browser_factory: Any, people: dict[str, Any]
) -> None:
    base = live_server.url
    driver = browser_factory()
    login(driver, base, "req")
    assert driver.find_element(*_by("#nav-new")).text == "New request"
    select(driver, "#lang-select", "zh-hans")
    driver.find_element(*_by(".lang-switch button")).click()
    _wait(driver, _text_is("#nav-new", "新建申请"))
    screenshot(driver, "zh-requester-home")
