"""The studio in headless Chromium against a real `augment serve`: pick samples/ datasets, build a pipeline,
watch the preview change, export the YAML, run a job. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from augment.spec import parse_spec
from serve_support import REPO, Server

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _chromium_missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return "Chromium not installed (Debian packages chromium and chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (part of the 'test' extra)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_chromium_missing() is not None, reason=str(_chromium_missing()))]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server("--data-root", f"samples={REPO / 'samples'}", "--jobs-root", str(tmp_path_factory.mktemp("jobs")))
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(tmp_path_factory, downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,1100"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    drv.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield drv
    drv.quit()


def _wait(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _select(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def _augmented_srcs(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#preview img.augmented, #preview span.dropped')]"
        ".filter(i => i.tagName !== 'IMG' || (i.complete && i.naturalWidth > 0))"
        ".map(i => i.tagName === 'IMG' ? i.getAttribute('data-sha256') : 'dropped')")  # a run drops unchanged copies


def _yaml(driver) -> str:
    return driver.execute_script("return document.getElementById('yaml').value")


def _set_yaml(driver, text: str) -> None:
    driver.execute_script("const t = document.getElementById('yaml'); t.value = arguments[0];"
                          "t.dispatchEvent(new Event('input'));", text)


def _status(driver) -> str:
    return driver.find_element("id", "spec-status").text


def _shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 40, 6000))
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1100)
    return path


def _no_console_errors(driver) -> None:
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors


def test_design_preview_export_and_run_on_digits(server, driver, downloads):
    driver.get(server.url + "/")
    assert driver.title == "augment studio"
    _select(driver, "dataset", "samples/digits")
    _wait(lambda: len(_augmented_srcs(driver)) == 4 * 3, what="the first preview (4 samples x 3 copies)")
    originals = driver.find_elements("css selector", "#preview img.sample")
    assert len(originals) == 4 and all(driver.execute_script("return arguments[0].naturalWidth", i) for i in originals)
    before = _augmented_srcs(driver)
    assert _status(driver) == "valid"

    _select(driver, "op-picker", "rotate")
    driver.find_element("id", "add-op").click()
    _wait(lambda: "op: rotate" in _yaml(driver) and _status(driver) == "valid", what="rotate in the YAML")
    after = _wait(lambda: (lambda s: s if len(s) == 12 and s != before else None)(_augmented_srcs(driver)),
                  what="the preview to change")
    assert after != before
    title = driver.find_elements("css selector", "#preview img.augmented")[0].get_attribute("title")
    assert "rotate" in title and "angle=" in title  # the drawn values on hover

    # a slider in the form rewrites the YAML; a bad value in the YAML is shown at its key in the form
    good = _yaml(driver)
    _set_yaml(driver, good.replace("op: rotate\n  p: 1.0", "op: rotate\n  p: 1.5"))
    err = _wait(lambda: driver.find_elements("css selector", '.err[data-error-path="steps[1].p"]'),
                what="the inline error at steps[1].p")
    assert "less than or equal to 1" in err[0].text
    assert "invalid" in driver.find_element("css selector", '[data-path="steps[1].p"]').get_attribute("class")
    assert driver.find_element("id", "run").get_attribute("disabled") is not None
    _shot(driver, "studio-digits-error.png")
    _set_yaml(driver, good)
    _wait(lambda: _status(driver) == "valid" and not driver.find_elements("css selector", ".err"), what="valid again")

    driver.find_element("id", "export").click()
    exported = _wait(lambda: [p for p in downloads.glob("*.yaml")], what="the exported file")[0]
    time.sleep(0.3)
    text = exported.read_text()
    assert text == _yaml(driver)
    spec = parse_spec(yaml.safe_load(text))
    assert [s.op for s in spec.steps] == ["horizontal_flip", "rotate"] and spec.copies == 3
    _no_console_errors(driver)
    _shot(driver, "studio-digits.png")

    driver.find_element("id", "run").click()
    _wait(lambda: driver.find_element("id", "job-status").get_attribute("data-status") == "complete", timeout=180,
          what="the run job to complete")
    assert driver.execute_script("return document.getElementById('job-progress').value") == 1
    _wait(lambda: driver.execute_script(
        "return [...document.querySelectorAll('#job-outputs img')].filter(i => i.complete && i.naturalWidth).length")
        >= 24, what="output thumbnails")
    assert "200 images" in driver.find_element("id", "data-info").text
    assert "600/600" in driver.find_element("id", "job-status").text
    _no_console_errors(driver)
    _shot(driver, "studio-digits-run.png")


def test_text_preview_highlights_changes(server, driver):
    driver.get(server.url + "/")
    _select(driver, "dataset", "samples/text/reviews.tsv")
    _wait(lambda: len(driver.find_elements("css selector", "#preview .copy.augmented")) == 4 * 3,
          what="the text preview")
    _select(driver, "op-picker", "synonym_replace")
    driver.find_element("id", "add-op").click()
    _wait(lambda: "op: synonym_replace" in _yaml(driver) and _status(driver) == "valid", what="synonym_replace")
    _wait(lambda: driver.execute_script(
        "return [...document.querySelectorAll('#preview .copy.augmented')].some(c => c.title.includes('synonym_replace'))"),
        timeout=120, what="a preview with synonym_replace applied (drawn changes on hover)")
    marks = driver.find_elements("css selector", "#preview .copy.augmented mark")
    assert marks and all(m.text for m in marks)
    assert not driver.find_element("id", "backend-label").is_displayed()  # text pipelines have no backend choice
    _no_console_errors(driver)
    _shot(driver, "studio-text.png")

    _select(driver, "group-kind", "some_of")
    _select(driver, "op-picker", "random_delete")
    driver.find_element("id", "add-group").click()
    _wait(lambda: "some_of:" in _yaml(driver) and _status(driver) == "valid", what="a some_of group")
    _select(driver, "eval-model", "tfidf-logreg")
    driver.find_element("id", "evaluate").click()
    _wait(lambda: driver.find_element("id", "job-status").get_attribute("data-status") == "complete", timeout=300,
          what="the eval job to complete")
    frame = _wait(lambda: driver.find_element("id", "job-report").is_displayed() and
                  driver.find_element("id", "job-report"), what="the embedded report")
    driver.switch_to.frame(frame)
    _wait(lambda: driver.execute_script("return document.title").startswith("augment eval"),
          what="the report inside the frame")
    assert driver.find_elements("css selector", "#verdicts li")
    driver.switch_to.default_content()
    _no_console_errors(driver)
    _shot(driver, "studio-text-eval.png")
