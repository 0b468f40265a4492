"""Driving `emotion-whisper demo` in headless Chromium as a user does: the server in a subprocess, the system's
Chromium under Playwright (Playwright's own browser download cannot be reached from here). Used by
tests/test_demo_browser.py and benchmarks/demo_screenshots.py.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def chromium() -> str | None:
    """The system Chromium (Debian's `chromium` package), or None."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(arguments, timeout: float = 180.0, log=None):
    """`emotion-whisper demo ARGUMENTS` on a free port; yields its URL, stops it (this process only) at the end."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "modeling_emotion_whisper.cli", "demo", "--port", str(port),
                               *map(str, arguments)], cwd=REPO, env=env, stdout=log or subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the demo exited with {server.returncode} before serving")
            try:
                with urllib.request.urlopen(url, timeout=5) as page:
                    if page.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError(f"the demo did not serve {url} within {timeout:g} s")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def launch(playwright, microphone=None):
    """Headless Chromium; with `microphone` (a WAV file), that file as its microphone, permission granted."""
    arguments = [*FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={microphone}"] if microphone else []
    return playwright.chromium.launch(executable_path=chromium(), headless=True, args=arguments)


def open_demo(browser, url, microphone: bool = False, width: int = 1280, height: int = 1000):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  permissions=["microphone"] if microphone else [])
    page = context.new_page()
    # "load" would wait on the theme's web fonts, which never arrive offline
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#clip-audio", timeout=60_000)
    return page


def shows_a_label(selector: str, labels) -> str:
    """A page condition: the element's text names one of the labels."""
    pattern = "|".join(labels)
    return (f"(() => {{ const e = document.querySelector({selector!r}); "
            f"return e !== null && /\\b({pattern})\\b/.test(e.innerText); }})()")


def upload(page, audio, labels, timeout: float = 120.0):
    """Upload `audio` in the clip tab and wait until the segment table names an emotion; returns the table's text."""
    page.locator("#clip-audio input[type=file]").first.set_input_files(str(audio))
    page.wait_for_function(shows_a_label("#clip-segments", labels), timeout=timeout * 1000)
    page.wait_for_selector("#clip-plot img", timeout=timeout * 1000)
    return page.locator("#clip-segments").inner_text()


def record(page, labels, timeout: float = 120.0):
    """Open the live tab, start recording and wait until the current emotion names one; returns the label's text."""
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-audio").get_by_role("button", name="Record").click()
    page.wait_for_function(shows_a_label("#live-emotion", labels), timeout=timeout * 1000)
    return page.locator("#live-emotion").inner_text()


def stop(page):
    page.locator("#live-audio").get_by_role("button", name="Stop").click()
