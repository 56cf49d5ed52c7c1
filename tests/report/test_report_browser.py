"""The report opened in headless Chromium, as a reader would: the charts draw, search and the
filters narrow the rows, and a row's lineage shows its seed and its verdict. Playwright drives
Debian's chromium (``make test`` installs it); nothing is downloaded, and the page has no network."""

from __future__ import annotations

import shutil

import pytest

from selfalign.report.html import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it "
                                                         "with apt as root: apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the [dev] extra (playwright)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_charts_search_filters_and_lineage(browser, report_run, tmp_path):
    path = write_report(report_run, tmp_path / "report.html")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else route.abort())   # the page must need nothing but itself
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)

    charts = page.locator("[data-chart]")
    assert charts.count() == 8
    for i in range(charts.count()):   # plotly drew every chart: its svg is in the DOM
        assert charts.nth(i).locator("svg.main-svg").count() > 0, charts.nth(i).get_attribute("data-chart")

    total = page.evaluate("window.selfalignReport.rows")
    assert page.inner_text("#count") == f"{total} of {total} rows"
    page.fill("#q", "has_close_elements")
    page.wait_for_function(f"!document.getElementById('count').textContent.endsWith('{total} of {total} rows')")
    found = page.locator("#rows tr")
    assert 0 < found.count() < total
    assert all("has_close_elements" in found.nth(i).inner_text() for i in range(found.count()))

    page.fill("#q", "")
    page.select_option("#f-stage", "execute")
    page.select_option("#f-status", "fail")
    rows = page.locator("#rows tr")
    page.wait_for_function("document.querySelectorAll('#rows tr').length > 0 && "
                           "[...document.querySelectorAll('#rows tr')].every(r => r.cells[1].textContent === 'execute')")
    assert all(rows.nth(i).locator("td").nth(3).inner_text() == "fail" for i in range(rows.count()))

    rows.first.click()
    page.wait_for_selector("#lineage .node[data-stage='execute']")
    seed = page.locator("#lineage .node[data-stage='seeds']").first
    assert "def " in seed.inner_text() and "small.py" in seed.inner_text()
    verdict = page.locator("#lineage .node.focus")
    assert "verdict: fail" in verdict.inner_text() and "AssertionError" in verdict.inner_text()
    assert page.locator("#lineage .node[data-stage='responses']").count() == 2   # every sample of the task
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert errors == []
    context.close()
