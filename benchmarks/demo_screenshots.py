"""The demo's screenshots in docs/: `emotion-whisper demo` with the bundled model, driven in headless Chromium.

    python benchmarks/demo_screenshots.py [--model checkpoints/emotion-whisper-base] [--seconds 16]

docs/demo-upload.png: the clip tab after uploading examples/ravdess_actor16_emotion_changes.flac.
docs/demo-live.png: the live tab `--seconds` s into a recording whose microphone is that example (Chromium's fake
capture device, fed a 48 kHz 16-bit WAV of it). Needs Chromium (apt install chromium), playwright and gradio.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from demo_browser import shows_a_label, chromium, launch, open_demo, record, serve, upload  # noqa: E402

EXAMPLE = REPO / "examples" / "ravdess_actor16_emotion_changes.flac"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "emotion-whisper-base"))
    parser.add_argument("--seconds", type=float, default=16.0, help="how long to record before the live screenshot")
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    if chromium() is None:
        sys.exit("error: no Chromium: apt install chromium")
    from playwright.sync_api import sync_playwright

    labels = list(json.loads(Path(args.model, "config.json").read_text())["id2label"].values())
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as work:
        wave, rate = sf.read(EXAMPLE, dtype="float32")
        microphone = Path(work, "microphone.wav")
        sf.write(microphone, (soxr.resample(wave, rate, 48000) * 32767).clip(-32768, 32767).astype(np.int16), 48000,
                 subtype="PCM_16")
        with open(Path(work, "server.log"), "w") as log, serve(["--model", args.model], log=log) as url, \
                sync_playwright() as driver:
            browser = launch(driver, microphone=microphone)
            try:
                page = open_demo(browser, url, microphone=True, height=1100)
                started = time.time()
                upload(page, EXAMPLE, labels, timeout=300)
                time.sleep(1)  # the plot image finishes drawing
                page.screenshot(path=str(out / "demo-upload.png"), full_page=True)
                print(f"clip tab: {time.time() - started:.1f} s to the segments; {out / 'demo-upload.png'}")
                started = time.time()
                record(page, labels, timeout=300)
                print(f"live tab: first label after {time.time() - started:.1f} s")
                time.sleep(max(0.0, args.seconds - (time.time() - started)))
                # the clip pauses between sentences ("no speech"): wait for a sentence, to show its emotion
                page.wait_for_function(shows_a_label("#live-emotion", labels), timeout=30_000)
                time.sleep(0.5)
                page.screenshot(path=str(out / "demo-live.png"), full_page=True)
                print(f"live tab: {page.locator('#live-status').inner_text()} after {time.time() - started:.1f} s")
                print(f"live tab: {out / 'demo-live.png'}")
            finally:
                browser.close()


if __name__ == "__main__":
    main()
