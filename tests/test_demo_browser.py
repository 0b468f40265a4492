"""The demo in a browser, as a user meets it: `emotion-whisper demo` serving a tiny random model, headless Chromium
uploading a generated clip and finding its segments, then recording a generated WAV through Chromium's fake
microphone and seeing the current emotion appear.

Marked `browser` (40 to 60 s together on 2 busy cores, half of it starting the server), so the default run leaves
them out; run them with `pytest -m browser`. They skip when Chromium, Playwright or Gradio is missing.
"""

import importlib.util

import numpy as np
import pytest
import soundfile as sf

from conftest import synth_speech, tiny_config
from demo_browser import chromium, launch, open_demo, record, serve, stop, upload

# Gradio is only looked for here (importing it takes seconds): the default run collects this file and deselects it.
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium() is None, reason="no Chromium (apt install chromium)"),
              pytest.mark.skipif(importlib.util.find_spec("gradio") is None,
                                 reason="pip install 'emotion-whisper[demo]'")]
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (its browser download unneeded)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import torch

    from modeling_emotion_whisper import WhisperForEmotionClassification

    root = tmp_path_factory.mktemp("demo")
    torch.manual_seed(0)
    model = WhisperForEmotionClassification(tiny_config(num_domains=4)).eval()
    model.save_pretrained(root / "model")
    with open(root / "server.log", "w") as log, serve(["--model", root / "model"], log=log) as url:
        yield url, root, list(model.config.id2label.values())


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as driver:
        yield driver


def test_uploading_a_clip_shows_its_segments(demo, playwright):
    url, root, labels = demo
    clip = root / "two voices.wav"  # a space in the name, as users' files have
    sf.write(clip, np.concatenate([synth_speech(3.0, f0=150, seed=1), synth_speech(3.0, f0=400, seed=2)]), 16000)
    browser = launch(playwright)
    try:
        page = open_demo(browser, url)
        table = upload(page, clip, labels)
        assert "start (s)" in table and any(label in table for label in labels)
        scores = page.locator("#clip-scores").inner_text()
        assert sum(label in scores for label in labels) == len(labels)  # every label's score is listed
    finally:
        browser.close()


def test_the_fake_microphone_streams_and_a_label_appears(demo, playwright):
    url, root, labels = demo
    microphone = root / "microphone.wav"
    # 48 kHz 16-bit: a browser's capture rate, so the stream resamples as it would from a real microphone
    wave = np.concatenate([synth_speech(4.0, sr=48000, f0=150, seed=3), synth_speech(4.0, sr=48000, f0=400, seed=4)])
    sf.write(microphone, (wave * 32767).astype(np.int16), 48000, subtype="PCM_16")
    browser = launch(playwright, microphone=microphone)
    try:
        page = open_demo(browser, url, microphone=True)
        current = record(page, labels)
        assert any(label in current for label in labels)
        page.wait_for_function("document.querySelector('#live-segments').innerText.includes('open')"
                               " || document.querySelector('#live-segments').innerText.includes('closed')",
                               timeout=60_000)
        stop(page)
        # the recording's end closes every segment
        page.wait_for_function("!document.querySelector('#live-segments').innerText.includes('open')"
                               " && document.querySelector('#live-segments').innerText.includes('closed')",
                               timeout=60_000)
    finally:
        browser.close()
