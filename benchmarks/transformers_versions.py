"""Does a saved model folder serve `pipeline("audio-classification", trust_remote_code=True)` on other transformers
versions? Each version gets a throwaway venv (torch 2.13.0 CPU, soundfile, soxr, that transformers; emotion-whisper
NOT installed), and a fresh process there loads the folder offline and scores a generated clip. Prints a table.

    python benchmarks/transformers_versions.py --versions 4.57.1 5.0.0 5.10.4 5.24.0 [--model DIR] [--keep]

Without --model, a tiny random model is saved with the current code. Needs PyPI (pip), not the Hub.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHECK = r"""
import json, sys, numpy as np, transformers
from transformers import pipeline
t = np.arange(32000) / 16000
wave = (0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 - 0.5 * np.cos(2 * np.pi * 3 * t))).astype(np.float32)
try:
    pipe = pipeline("audio-classification", model=sys.argv[1], trust_remote_code=True)
    scores = {r["label"]: r["score"] for r in pipe(wave, top_k=None)}
    print("OK", transformers.__version__, json.dumps(scores))
except Exception as err:
    print("FAIL", transformers.__version__, type(err).__name__, str(err).splitlines()[0][:200])
"""


def tiny_model(folder: Path):
    import torch

    from modeling_emotion_whisper import EmotionWhisperConfig, WhisperForEmotionClassification

    torch.manual_seed(0)
    config = EmotionWhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                                  decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, vocab_size=100,
                                  max_target_positions=8, num_domains=2)
    WhisperForEmotionClassification(config).save_pretrained(folder)


def reference(model: Path) -> dict:
    """The scores this environment's transformers gives, to compare every other version against."""
    run = subprocess.run([sys.executable, "-c", CHECK, str(model)], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    status, _, rest = run.stdout.strip().splitlines()[-1].partition(" ")
    if status != "OK":
        raise SystemExit(f"the reference environment fails: {rest}")
    return json.loads(rest.split(" ", 1)[1])


def install(venv: Path, version: str) -> tuple[str | None, str, dict]:
    """Install torch, the audio readers and that transformers: (an error or None, a note for the table, environment
    variables the check needs)."""
    python = str(venv / "bin" / "python")
    base = [python, "-m", "pip", "install", "-q", "torch==2.13.0", "soundfile", "soxr"]
    done = subprocess.run([*base, f"transformers=={version}"], capture_output=True, text=True)
    if not done.returncode:
        return None, "", {}
    error = done.stderr.strip().splitlines()[-1][:150]
    unavailable = re.search(r"No matching distribution found for ([A-Za-z0-9_.-]+)", done.stderr)
    if not unavailable:
        return error, "", {}
    # transformers 5.25 requires kernels>=0.19.1, which the index may not have yet; kernels is an optional import
    # everywhere else in transformers, so the remote code can still be tested, without it and saying so.
    name = unavailable.group(1).lower()
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", f"transformers=={version}"],
                          capture_output=True, text=True)
    requires = subprocess.run([python, "-c", "import importlib.metadata as m; "
                               "print('\\n'.join(m.requires('transformers') or []))"], capture_output=True, text=True)
    if done.returncode or requires.returncode:
        return error, "", {}
    others = [r for r in requires.stdout.splitlines()
              if "extra ==" not in r and re.split(r"[<>=!~;\[ ]", r)[0].lower() != name]
    done = subprocess.run([*base, *others], capture_output=True, text=True)
    if done.returncode:
        return done.stderr.strip().splitlines()[-1][:150], "", {}
    if name == "kernels":  # from_pretrained asks for hub kernels unless told not to, and refuses without the package
        return None, "; without kernels (its required version is not on the index), USE_HUB_KERNELS=0", {
            "USE_HUB_KERNELS": "0"}
    return None, f"; installed without {name} (the version it requires is not on the index)", {}


def check(version: str, model: Path, work: Path, expected: dict) -> str:
    venv = work / f"venv-{version}"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    error, note, extra_env = install(venv, version)
    if error:
        return f"| {version} | install failed | {error} |"
    # A module cache of its own: transformers copies remote code into HF_MODULES_CACHE under the folder's name, and a
    # file another version (or an earlier run) left there would hide a file this version fails to copy.
    with tempfile.TemporaryDirectory(dir=work) as home:
        env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": home, **extra_env}
        run = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK, str(model)], capture_output=True,
                             text=True, cwd=work, env=env, timeout=600)
        line = (run.stdout.strip().splitlines() or [run.stderr.strip().splitlines()[-1]])[-1].replace(home, "~")
    status, _, rest = line.partition(" ")
    if status != "OK":
        return f"| {version} | refused / failed | {rest}{note} |"
    scores = json.loads(rest.split(" ", 1)[1])
    worst = max(abs(scores[k] - v) for k, v in expected.items())
    verdict = "serves the pipeline, same scores" if worst < 1e-4 else "serves the pipeline, DIFFERENT scores"
    return f"| {version} | {verdict} | max score difference {worst:.1e}{note} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="+", default=["4.57.1", "5.0.0", "5.10.4", "5.19.0", "5.24.0"])
    parser.add_argument("--model", help="a saved model folder (default: a tiny random one with the current code)")
    parser.add_argument("--keep", action="store_true", help="keep the venvs")
    parser.add_argument("--work", help="reuse this folder (and the venvs kept in it)")
    args = parser.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="tf-versions-"))
    work.mkdir(parents=True, exist_ok=True)
    model = Path(args.model).resolve() if args.model else None
    if model is None:  # always the current code: a new folder each run, so nothing in a reused --work is deleted
        model = Path(tempfile.mkdtemp(prefix="tiny-model-", dir=work))
        tiny_model(model)
    import transformers

    expected = reference(model)
    print(f"reference: transformers {transformers.__version__} (this environment)\n")
    print("| transformers | result | detail |\n|---|---|---|")
    for version in args.versions:
        print(check(version, model, work, expected), flush=True)
    if not args.keep and not args.work:  # only the temporary folder this run made; a --work folder is the user's
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
