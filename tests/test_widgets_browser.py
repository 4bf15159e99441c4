"""The sampling explorer in a real JupyterLab, driven by headless Chromium.

Starts a private JupyterLab on localhost (token auth), opens a notebook that builds the explorer
in Debian's Chromium through Playwright (``executable_path``; no browser download), runs it,
moves the temperature slider with the keyboard, and checks that the kernel redrew the figure:
the readout, the summary line and the picture's pixels change. Screenshots are saved under
``artifacts/browser/`` (git-ignored). Skips only when no Chromium is installed
(``apt-get install chromium``).
"""

import time
from pathlib import Path

import pytest

from browser.lab import CHROMIUM_ARGS, find_chromium, running_lab
from browser.make_notebook import saved_explorer_outputs, write_notebook

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = find_chromium()
TIMEOUT_MS = 90_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KERNEL_IDLE = ("window.jupyterapp?.shell?.currentWidget?.context?.sessionContext?.session?.kernel"
               "?.status === 'idle'")
IMAGE_READY = ("() => { const i = document.querySelector('.jp-OutputArea .widget-image');"
               " return i !== null && i.complete && i.naturalWidth > 0; }")
IMAGE_CHANGED = ("(old) => { const i = document.querySelector('.jp-OutputArea .widget-image');"
                 " return i !== null && i.src !== old && i.complete && i.naturalWidth > 0; }")


def wait_for(page, js: str, what: str, arg=None, timeout: int = 30_000) -> None:
    """Wait until ``js`` is true in the page, or fail saying what did not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"{what} (waited {timeout / 1000:.0f} s)")


def wait_for_summary(page, text: str) -> None:
    """Wait until the explorer's summary line contains ``text``. The picture and the summary are
    two widgets synced by two messages, so a changed picture does not mean a changed summary."""
    wait_for(page, "(text) => document.querySelector('.jp-OutputArea .widget-html').innerText.includes(text)",
             f"the summary never showed {text!r}", arg=text)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install "
                    "chromium); the browser test needs it and never downloads a browser")
def test_sampling_explorer_in_jupyterlab(tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "notebooks"
    root.mkdir()
    write_notebook(root / "explorer.ipynb")
    write_notebook(root / "saved.ipynb", outputs=saved_explorer_outputs())
    start = time.monotonic()
    with running_lab(root, tmp_path) as (base, token), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{base}/lab/tree/explorer.ipynb?token={token}", timeout=TIMEOUT_MS)
            wait_for(page, KERNEL_IDLE, "the notebook's kernel did not start", timeout=TIMEOUT_MS)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")

            slider = page.locator(".jp-OutputArea .widget-slider", has_text="temperature")
            slider.wait_for(timeout=TIMEOUT_MS)
            wait_for(page, IMAGE_READY, "the explorer's figure did not appear", timeout=TIMEOUT_MS)
            outputs = page.locator(".jp-OutputArea-output img")
            assert outputs.count() == 1, (
                "JupyterLab should render the live widget only, not also the static PNG fallback")
            image = page.locator(".jp-OutputArea .widget-image")
            summary = page.locator(".jp-OutputArea .widget-html").first
            assert "T=1.00" in summary.inner_text()
            src_before = image.get_attribute("src")
            pixels_before = image.screenshot(path=str(ARTIFACTS / "plot_before.png"))

            # Move the temperature slider like a learner with the keyboard: 10 steps of 0.05.
            handle = slider.locator(".noUi-handle")
            handle.focus()
            for _ in range(10):
                handle.press("ArrowRight")
            assert slider.locator(".widget-readout").inner_text().strip() == "1.50"
            wait_for(page, IMAGE_CHANGED, "the plot did not change after moving the temperature slider",
                     arg=src_before)
            wait_for_summary(page, "T=1.50")
            wait_for(page, IMAGE_READY, "the redrawn plot did not load")
            time.sleep(0.5)  # let the last of the ten redraws land
            pixels_after = image.screenshot(path=str(ARTIFACTS / "plot_after.png"))
            assert pixels_after != pixels_before, "the plot's pixels did not change"
            assert "entropy 1.258 nats" in summary.inner_text()  # the kernel's numbers for T = 1.5

            # Top-p down to 0.70 (6 steps of 0.05): "mat" and "in" leave the nucleus.
            src_mid = image.get_attribute("src")
            top_p = page.locator(".jp-OutputArea .widget-slider", has_text="top-p").locator(".noUi-handle")
            top_p.focus()
            for _ in range(6):
                top_p.press("ArrowLeft")
            wait_for_summary(page, "top-p 0.70")
            wait_for(page, IMAGE_CHANGED, "the plot did not change after moving top-p", arg=src_mid)
            wait_for_summary(page, "kept 2 of 4 tokens")

            # The "sample N times" button adds the sampled frequencies.
            src_mid = image.get_attribute("src")
            page.locator(".jp-OutputArea button", has_text="sample N times").click()
            wait_for(page, IMAGE_CHANGED, "the plot did not change after 'sample N times'", arg=src_mid)
            wait_for_summary(page, "sampled 1000 times")
            page.screenshot(path=str(ARTIFACTS / "sampling_explorer.png"))

            # A saved notebook that JupyterLab does not trust (e.g. downloaded) cannot run
            # widgets: the explorer's output must fall back to its static picture.
            page.goto(f"{base}/lab/tree/saved.ipynb?token={token}", timeout=TIMEOUT_MS)
            static = page.locator(".jp-OutputArea-output img")
            static.first.wait_for(timeout=TIMEOUT_MS)
            assert static.count() == 1 and static.get_attribute("src").startswith("data:image/png")
            wait_for(page, "() => { const i = document.querySelector('.jp-OutputArea-output img');"
                     " return i.complete && i.naturalWidth > 0; }", "the static PNG did not load")
            assert "Error displaying widget" not in page.locator(".jp-OutputArea").first.inner_text()
            page.screenshot(path=str(ARTIFACTS / "static_fallback.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            log = (tmp_path / "jupyterlab.log").read_text()[-3000:]
            print(f"page errors: {errors}\njupyterlab log (tail):\n{log}")
            raise
        finally:
            browser.close()
    elapsed = time.monotonic() - start
    assert not errors, f"JavaScript errors in the page: {errors}"
    print(f"browser test took {elapsed:.1f} s; screenshots in {ARTIFACTS}")
