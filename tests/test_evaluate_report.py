"""report.json / report.html: content, escaping, self-containment, and rendering in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.evaluate import EvalConfig, FunctionAugmenter, run_evaluation, write_report
from augment.evaluate.report import highlight_changes

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NASTY = 'top<b>&"\'x'  # a class name that must be escaped everywhere


def _blobs(root: Path, n: int = 24, size: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for c, name in enumerate([NASTY, "bottom"]):
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
            y = rng.integers(0, size // 2 - 4) + (0 if c == 0 else size // 2)
            img[y:y + 4, 2:6] = 230
            Image.fromarray(img).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def image_report(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report")
    root = _blobs(base / "data")

    def shift_and_noise(x: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.roll(x, int(rng.integers(-2, 3)), axis=1).astype(np.int16) + rng.integers(-20, 21, x.shape)
        return np.clip(out, 0, 255).astype(np.uint8)

    cfg = EvalConfig(train=root, train_sizes=[12, "full"], copies=[1, 2], repeats=2, n_bootstrap=200, n_samples=4,
                     model_options={"image_size": 12, "width": 8, "max_epochs": 6, "patience": 2, "min_steps": 0})
    res = run_evaluation(cfg, progress=False, augmenter=FunctionAugmenter(shift_and_noise, "image", "shift <&> noise"))
    return write_report(res, base / "out")


@pytest.fixture(scope="module")
def text_report(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("text_report")
    rng = np.random.default_rng(0)
    lines = []
    for label, cue in (("pos", "good"), ("neg", "bad")):
        for _ in range(20):
            lines.append(f"{label}\t{' '.join(rng.choice(['a', 'film', 'plot', 'very', '<i>'], 4))} {cue}")
    (base / "train.tsv").write_text("\n".join(lines) + "\n")

    def swap_first(text: str, seed: int) -> str:
        w = text.split()
        return " ".join([w[-1]] + w[1:-1] + [w[0]]) if len(w) > 1 else text

    cfg = EvalConfig(train=base / "train.tsv", train_sizes=["full"], copies=[1], repeats=2, model="tfidf-logreg",
                     n_bootstrap=200, n_samples=3)
    res = run_evaluation(cfg, progress=False, augmenter=FunctionAugmenter(swap_first, "text", "swap"))
    return write_report(res, base / "out")


def test_report_json_is_strict_json_with_runs_spec_and_versions(image_report):
    doc = json.loads(image_report["json"].read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert doc["format"] == "augment-eval-report"
    assert len(doc["runs"]) == 2 * 2 * 3
    assert doc["pipeline"]["spec"]["name"] == "shift <&> noise"
    assert doc["classes"] == ["bottom", NASTY] or set(doc["classes"]) == {"bottom", NASTY}
    assert {"python", "torch", "numpy", "sklearn", "augment"} <= set(doc["versions"])
    assert all(s["verdict"] in ("helps", "hurts", "equivalent", "no detectable effect", "undecided")
               for s in doc["summary"])
    for s in doc["summary"]:  # every verdict carries its interval, its power statement and the variance split
        acc = s["metrics"]["accuracy"]
        assert acc["ci"] is not None and s["variance"]["difference_sd"] is not None
        # the power statement, or (equal differences in every run) why there is none
        assert acc["mde"] is not None or "no variance to judge by" in s["sentence"]
        assert s["generalization"]["augmented"]["learning_curve"]
    assert doc["model"]["image_size"] == 12 and doc["protocol"]["statistics"]["alpha"] == 0.05
    per_class = doc["per_class"][0]["classes"][0]
    # 10 held-out images, 5 per class: counts, not an interval drawn from 5 examples
    assert per_class["support"] < 20 and per_class["interval_withheld"] and per_class["diff_recall_ci"] is None
    assert 0 <= per_class["baseline_correct"] <= per_class["support"]


def test_report_html_is_self_contained_and_escaped(image_report, text_report):
    for paths in (image_report, text_report):
        page = paths["html"].read_text()
        for m in re.finditer(r'(?:src|href)\s*=\s*["\']([^"\']*)', page):
            assert m.group(1).startswith("data:"), f"external resource {m.group(1)[:60]}"
        assert "http://" not in page and "https://" not in page
        assert "<script" not in page.lower()
    page = image_report["html"].read_text()
    assert NASTY not in page and "top&lt;b&gt;&amp;&quot;&#x27;x" in page
    assert "shift &lt;&amp;&gt; noise" in page
    text_page = text_report["html"].read_text()
    assert "<i>" not in text_page and "&lt;i&gt;" in text_page


def test_report_plots_leave_the_users_pyplot_backend_alone(image_report):
    """Regression: report.py called matplotlib.use("Agg"), which switched (and closed) a user's pyplot figures."""
    code = (
        "import matplotlib; matplotlib.use('pdf'); import matplotlib.pyplot as plt\n"
        "fig = plt.figure(); n = plt.get_fignums()\n"
        "from augment.evaluate import report\n"
        "f = report._figure(2, 2); f.add_subplot(1, 1, 1).plot([0, 1]); uri = report._png_data_uri(f)\n"
        "assert uri.startswith('data:image/png;base64,'), uri[:40]\n"
        "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()\n"
        "assert plt.get_fignums() == n, plt.get_fignums()\n"
    )
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_text_changes_show_insertions_deletions_and_moves_in_place():
    from augment.evaluate.report import inline_changes

    assert inline_changes("a b c d", "a c d") == "a <del>b</del> c d"  # deletion
    assert inline_changes("a b c d", "d b c a") == "<del>a</del> <mark>d</mark> b c <del>d</del> <mark>a</mark>"
    assert inline_changes("x <y>", "x <y>") == "x &lt;y&gt;"


def test_changed_words_are_highlighted():
    left, right = highlight_changes("the film was <good>", "the movie was <good> indeed")
    assert left == "the <del>film</del> was &lt;good&gt;"
    assert right == "the <mark>movie</mark> was &lt;good&gt; <mark>indeed</mark>"


def _driver(user_data_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={user_data_dir}",
                "--window-size=1280,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def _chromium_missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return "Chromium not installed (Debian packages chromium and chromium-driver: /usr/bin/chromium, /usr/bin/chromedriver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install selenium, part of the 'test' extra)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_chromium_missing() is not None, reason=str(_chromium_missing()))
def test_report_renders_in_headless_chromium(image_report, text_report, tmp_path):
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(exist_ok=True)
    driver = _driver(tmp_path / "chromium-profile")
    try:
        for name, paths in (("eval-report-image", image_report), ("eval-report-text", text_report)):
            driver.get(paths["html"].resolve().as_uri())
            assert driver.title.startswith("augment eval")
            plots = driver.find_elements(By.CSS_SELECTOR, "img.plot")
            ids = {p.get_attribute("id") for p in plots}
            assert {"plot-accuracy", "plot-difference"} <= ids
            n_copies_values = 2 if name.endswith("image") else 1  # one per-class plot per arm
            assert len(driver.find_elements(By.CSS_SELECTOR, "img.plot-per-class")) == n_copies_values
            images = plots[:]
            if name.endswith("image"):
                grid = driver.find_element(By.ID, "sample-grid")
                assert grid.size["width"] > 0 and grid.size["height"] > 0
                cells = grid.find_elements(By.TAG_NAME, "img")
                assert len(cells) == 4 * 4  # 4 samples: original + 2 copies + copy 1 at the model's input size
                images += cells
                overflow = driver.execute_script(
                    "return [...document.querySelectorAll('#sample-grid .cap')].filter(c => {"
                    " const td = c.closest('td').getBoundingClientRect(), r = c.getBoundingClientRect();"
                    " return r.right > td.right + 0.5 || c.scrollWidth > c.clientWidth + 0.5; }).length")
                assert overflow == 0  # captions wrap inside their cell
                assert "12×12 px" in driver.find_element(By.CSS_SELECTOR, "p.sub").text
            else:
                texts = driver.find_element(By.ID, "sample-texts")
                assert texts.size["height"] > 0
                assert texts.find_elements(By.TAG_NAME, "mark")
            for img in images:
                natural = driver.execute_script("return [arguments[0].complete, arguments[0].naturalWidth]", img)
                assert natural[0] and natural[1] > 0, img.get_attribute("alt")
                assert img.size["width"] > 0 and img.size["height"] > 0, img.get_attribute("alt")
            verdicts = driver.find_elements(By.CSS_SELECTOR, "#verdicts li")
            assert verdicts and all(v.text for v in verdicts)
            errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
            assert not errors, errors
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, min(int(height) + 40, 8000))
            assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "eval-report-image.png").stat().st_size > 10_000


def test_chromium_skip_reason_is_clear(monkeypatch):
    monkeypatch.setattr(f"{__name__}.CHROMIUM", Path("/nonexistent/chromium"))
    assert "chromium-driver" in _chromium_missing()
    assert shutil.which  # keep shutil imported for readers who want to locate other browsers
