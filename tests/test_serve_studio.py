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
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except StaleElementReferenceException:  # the preview re-rendered between finding and reading: not yet
            value = None
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


def test_a_library_transform_is_picked_from_the_palette_with_controls_from_its_signature(server, driver):
    driver.get(server.url + "/")
    _select(driver, "dataset", "samples/digits")
    _wait(lambda: len(_augmented_srcs(driver)) == 4 * 3, what="the first preview")
    groups = driver.execute_script(
        "return [...document.querySelectorAll('#op-picker optgroup')].map(g => [g.label, g.children.length])")
    assert [g for g, _ in groups] == ["augment", "albumentations", "torchvision"], groups
    assert all(n > 10 for _, n in groups), groups  # the whole usable catalogue, not a sample of it
    before = _augmented_srcs(driver)

    _select(driver, "op-picker", "albumentations.Posterize")
    driver.find_element("id", "add-op").click()
    _wait(lambda: "op: albumentations.Posterize" in _yaml(driver) and _status(driver) == "valid",
          what="the library transform in the YAML, valid")
    # its keywords became controls, built from the transform's own schema
    assert driver.find_elements("css selector", '[data-path="steps[1].params.num_bits"]')
    _wait(lambda: (lambda s: s if len(s) == 12 and s != before else None)(_augmented_srcs(driver)),
          what="the preview with the library transform")
    _wait(lambda: "albumentations.Posterize" in
          driver.find_elements("css selector", "#preview img.augmented")[0].get_attribute("title"),
          what="the library transform's drawn values on hover")

    # a bad keyword value is shown at its key, as for augment's own ops
    good = _yaml(driver)
    bad = yaml.safe_load(good)
    bad["steps"][1]["params"]["num_bits"] = 99
    _set_yaml(driver, yaml.safe_dump(bad, sort_keys=False))
    _wait(lambda: [e for e in driver.find_elements("css selector", ".err")
                   if (e.get_attribute("data-error-path") or "").startswith("steps[1].params")],
          what="the inline error under steps[1].params")
    _set_yaml(driver, good)
    _wait(lambda: _status(driver) == "valid", what="valid again")
    _no_console_errors(driver)


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


@pytest.fixture(scope="module")
def annotated_server(tmp_path_factory):
    from annotation_fixtures import RACCOON, make_masks, make_voc

    if not RACCOON.is_dir():
        pytest.skip(f"raccoon dataset not present at {RACCOON}")
    root = tmp_path_factory.mktemp("annotated") / "det"
    make_voc(root / "raccoon_voc", ["raccoon-1", "raccoon-10", "raccoon-100"])
    make_masks(root / "raccoon_masks", ["raccoon-1", "raccoon-10"])
    srv = Server("--data-root", f"det={root}", "--jobs-root", str(tmp_path_factory.mktemp("jobs")))
    yield srv, root
    assert srv.stop() == 0


def _overlays(driver, selector: str) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(img => { const svg = img.parentElement"
        ".querySelector('svg.overlay'); return svg && {w: +svg.dataset.width, h: +svg.dataset.height, "
        "boxes: [...svg.querySelectorAll('rect.box')].map(r => ['x', 'y', 'width', 'height']"
        ".map(k => +r.getAttribute(k))), labels: [...svg.querySelectorAll('rect.box')].map(r => r.dataset.label), "
        "masks: svg.querySelectorAll('image.mask[href]').length}; })", selector)


def test_annotated_dataset_shows_boxes_that_follow_a_flip(annotated_server, driver):
    import xml.etree.ElementTree as ET

    srv, root = annotated_server
    driver.get(srv.url + "/")
    options = [o.get_attribute("value") for o in driver.find_elements("css selector", "#dataset option")]
    assert "det/raccoon_voc" in options and "det/raccoon_masks" in options
    _select(driver, "dataset", "det/raccoon_voc")
    _wait(lambda: len(driver.find_elements("css selector", "#preview img.augmented")) == 3 * 3,
          what="the annotated preview")
    flip = ("version: 1\nname: flip\nmodality: image\nbackend: albumentations\nseed: 0\ncopies: 3\n"
            "steps:\n- op: horizontal_flip\n  p: 1.0\n")
    _set_yaml(driver, flip)
    _wait(lambda: all("horizontal_flip" in i.get_attribute("title") and "objects: " in i.get_attribute("title")
                      for i in driver.find_elements("css selector", "#preview img.augmented")) and
          len(driver.find_elements("css selector", "#preview img.augmented")) == 9, what="the flipped preview")
    originals = _overlays(driver, "#preview img.sample")
    copies = _overlays(driver, "#preview img.augmented")
    names = [i.get_attribute("alt") for i in driver.find_elements("css selector", "#preview img.sample")]
    for row, (name, orig) in enumerate(zip(names, originals)):
        xml = ET.parse(root / "raccoon_voc" / "annotations" / (Path(name).stem + ".xml")).getroot()
        voc = [[float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")] for o in xml.findall("object")]
        assert orig["boxes"] == [[b[0] - 1, b[1] - 1, b[2] - b[0] + 1, b[3] - b[1] + 1] for b in voc]
        assert orig["labels"] == [o.findtext("name") for o in xml.findall("object")]
        for copy in copies[3 * row: 3 * row + 3]:  # every copy flipped: x -> width - x - box width
            assert copy["w"] == orig["w"] and len(copy["boxes"]) == len(orig["boxes"])
            for (x, y, bw, bh), (cx, cy, cw, ch) in zip(orig["boxes"], copy["boxes"]):
                assert abs(cx - (orig["w"] - x - bw)) < 1e-6 and (cy, cw, ch) == (y, bw, bh)
    _no_console_errors(driver)
    _shot(driver, "studio-annotations-voc.png")

    _select(driver, "dataset", "det/raccoon_masks")
    _wait(lambda: len(driver.find_elements("css selector", "#preview img.augmented")) == 2 * 3,
          what="the mask preview")
    _wait(lambda: all(o and o["masks"] == 1 for o in _overlays(driver, "#preview img.sample, #preview img.augmented")),
          what="masks coloured over every tile")
    _no_console_errors(driver)
    _shot(driver, "studio-annotations-masks.png")
