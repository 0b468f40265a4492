"""A Hub-ready release of a trained model: one folder that `pipeline("audio-classification", model=...)` serves.

    python -m modeling_emotion_whisper.release CHECKPOINT --repo-id ORG/NAME [--eval-json results.json] \
        [--notes how-chosen.md] [--push]

Steps: 1 load the checkpoint; 2 write the folder (safetensors weights, config with auto_map and custom pipeline,
modeling code, feature-extractor settings; with --onnx also onnx/model.onnx and onnx/model_int8.onnx), refused if
its code would not load on an older transformers (remote_code.py); 3 render model_card.md with the numbers of the
evaluation JSON(s) and the release notes (--notes: how the model was made and chosen) as README.md, and copy the
JSON(s) beside it; 4 load the folder in a fresh process, offline,
from another directory, with this package hidden, and run the pipeline on generated audio; 5 with --push, upload it
with huggingface_hub. A failed upload says why (no token, no network) and leaves the folder in place.

The folder (--out, default release/NAME) is written as a hidden temporary folder beside it and renamed into place
once checked: a failed release leaves nothing behind, and a release never deletes what it did not create. An
existing folder with anything in it is refused unless --overwrite; the working directory, the checkpoint, the home
folder and any folder holding one of them are refused always.
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

import torch

from .labels import label_table_markdown
from .outputs import umask
from .outputs import replace_folder, replaceable_folder
from .remote_code import unloadable_code

TEMPLATE = Path(__file__).resolve().parents[1] / "model_card.md"

CHECK_SCRIPT = r"""
import sys
sys.modules["modeling_emotion_whisper"] = None  # prove the folder stands alone
import numpy as np
from transformers import pipeline
pipe = pipeline("audio-classification", model=sys.argv[1], trust_remote_code=True)
t = np.arange(32000) / 16000
wave = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype("float32")
result = pipe(wave, top_k=None)
assert abs(sum(r["score"] for r in result) - 1) < 1e-3 or all(0 <= r["score"] <= 1 for r in result)
print(type(pipe).__name__, result[0]["label"], len(result))
"""


class ReleaseError(RuntimeError):
    pass


# The Hub's repository ids (huggingface_hub.utils.validate_repo_id): OWNER/NAME, each of letters, digits, "_", "-" and
# ".", starting and ending with a letter, digit or "_", without "--" or "..", at most 96 characters.
_REPO_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")


def check_repo_id(repo_id: str):
    parts = repo_id.split("/")
    if (len(parts) != 2 or not all(_REPO_PART.fullmatch(part) for part in parts) or "--" in repo_id
            or ".." in repo_id or repo_id.endswith(".git")):
        raise ReleaseError(f"--repo-id {repo_id!r} is not a Hub repository id: write OWNER/NAME, each part of letters, "
                           "digits, '_', '-' and '.', starting and ending with a letter, digit or '_', without '--' "
                           "or '..', at most 96 characters")


def release_folder(out, repo_id: str, checkpoint, overwrite: bool) -> Path:
    """Where the release goes, refused if writing it there could destroy anything it did not create."""
    folder = Path(out) if out else Path("release") / repo_id.split("/")[1]
    try:
        return replaceable_folder(folder, "--out", overwrite, {
            "the working directory": Path.cwd(), "the checkpoint": checkpoint, "your home folder": Path.home()})
    except ValueError as err:
        raise ReleaseError(str(err)) from None


def model_index(repo_id: str, evaluations: list[dict]) -> list[dict]:
    """The front matter's `model-index`: micro-F1, UA and WA per evaluated corpus."""
    results = []
    for evaluation in evaluations:
        prefix = "Z-" if evaluation.get("zero_shot") else ""
        for corpus, metrics in sorted(evaluation.get("per_corpus", {}).items()):
            results.append({
                "task": {"type": "audio-classification", "name": "Speech emotion recognition"},
                "dataset": {"type": corpus, "name": f"{prefix}{corpus} ({evaluation.get('split', 'validation')})"},
                "metrics": [{"type": "f1", "name": "micro-F1", "value": round(100 * metrics["micro_f1"], 2)},
                            {"type": "recall", "name": "UA (unweighted accuracy)", "value": round(100 * metrics["ua"], 2)},
                            {"type": "accuracy", "name": "WA (weighted accuracy)", "value": round(100 * metrics["wa"], 2)}],
            })
    return [{"name": repo_id.split("/")[-1], "results": results}]


LANGUAGES = {"am": "Amharic", "bn": "Bengali", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
             "fa": "Persian", "fr": "French", "it": "Italian", "ja": "Japanese", "pl": "Polish", "tr": "Turkish",
             "ur": "Urdu", "zh": "Mandarin", "multi": "several"}


def training_data(config) -> dict:
    """The card's training-data table, summary and languages, from config.training_corpora (set by train.py)."""
    corpora = getattr(config, "training_corpora", None)
    if not corpora:
        return {"training_data": "This model's config does not record its training corpora (saved before train.py "
                                 "recorded them); check their licences before use.",
                "training_summary": "corpora not recorded", "training_languages": "not recorded"}
    cards = getattr(config, "training_corpus_cards", None) or {}  # recorded by train.py from the corpus registry
    lines = ["| corpus | language | hours trained on | licence |", "|---|---|---|---|"]
    languages = []
    for name, hours in sorted(corpora.items()):
        card = cards.get(name)
        language = LANGUAGES.get(card["language"], card["language"]) if card else "unknown"
        licence = card["license"] if card else "not in the project's corpus registry: see the data's own terms"
        lines.append(f"| {card['title'] if card else name} | {language} | {hours:.2f} | {licence} |")
        if language not in languages:
            languages.append(language)
    return {"training_data": "\n".join(lines),
            "training_summary": f"{len(corpora)} corpora, {sum(corpora.values()):.1f} hours",
            "training_languages": ", ".join(sorted(languages))}


def results_table(evaluations: list[dict]) -> str:
    lines = ["| corpus | split | clips | micro-F1 | macro-F1 | UA | WA |", "|---|---|---|---|---|---|---|"]
    for evaluation in evaluations:
        prefix = "Z-" if evaluation.get("zero_shot") else ""
        for corpus, m in sorted(evaluation.get("per_corpus", {}).items()):
            lines.append(f"| {prefix}{corpus} | {evaluation.get('split', '')} | {m['n']} | {100 * m['micro_f1']:.2f} | "
                         f"{100 * m['macro_f1']:.2f} | {100 * m['ua']:.2f} | {100 * m['wa']:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else "No evaluation was supplied to this release."


ONNX_SECTION = """
### Without PyTorch: ONNX

`onnx/model.onnx` (fp32) and `onnx/model_int8.onnx` (int8 weights, onnxruntime dynamic quantization) run under
onnxruntime with the project's light install, which pulls no torch and no transformers:

```bash
pip install "emotion-whisper[onnx]"
huggingface-cli download {repo_id} --include "onnx/*" --local-dir {name}
emotion-whisper predict clips/ --backend onnx --model {name}/onnx                 # or {name}/onnx/model_int8.onnx
emotion-whisper timeline interview.wav --backend onnx --model {name}/onnx
```

Inputs: log-mel features (batch, mels, frames) at any length up to 30 s and their mel-frame attention mask;
outputs: clip logits, frame logits (50 per second), the frame mask and the pooled features. The export was checked
against PyTorch on generated audio (onnx/export_check.json); agreement and speed on real clips are in the project's
docs/results.md ("ONNX").
"""


def provenance(config) -> str:
    """A sentence for a model averaged in weight space (benchmarks/weight_interpolation.py), else nothing."""
    mix = getattr(config, "interpolated_from", None)
    if not mix:
        return ""
    if "soup" in mix:
        return (f"\nThe weights are a uniform average in weight space (a model soup) of {len(mix['soup'])} models "
                f"fine-tuned from one start: " + ", ".join(f"`{m}`" for m in mix["soup"]) + "; the project's "
                f"docs/results.md says why and what it costs.\n")
    alpha = float(mix["alpha"])
    return (f"\nThe weights are an average in weight space (WiSE-FT): {1 - alpha:g} x `{mix['start']}` + {alpha:g} x "
            f"`{mix['finetuned']}`, the second fine-tuned from the first on the corpora below; the project's "
            f"docs/results.md says why and what it costs.\n")


def release_notes(notes: str | None) -> str:
    """The card's section on how this model was made and chosen (docs/release-rule.md), from --notes."""
    if not notes or not notes.strip():
        return ""
    return f"\n## How this model was made and chosen\n\n{notes.strip()}\n"


def render_card(repo_id: str, config, evaluations: list[dict], template: Path = TEMPLATE, onnx: bool = False,
                notes: str | None = None) -> str:
    import yaml

    if not template.exists():
        raise ReleaseError(f"the model card template {template} is missing; release from a source checkout")
    text = template.read_text()
    front = {
        "license": "other", "license_name": "non-commercial-research-only",
        "library_name": "transformers", "pipeline_tag": "audio-classification",
        "tags": ["speech-emotion-recognition", "whisper", "audio-classification", "emotion"],
        "base_model": getattr(config, "base_model", None) or "openai/whisper-base",
        "model-index": model_index(repo_id, evaluations),
    }
    values = {
        "front_matter": yaml.safe_dump(front, sort_keys=False).strip(),
        "repo_id": repo_id,
        "labels": ", ".join(config.id2label[i] for i in range(config.num_labels)),
        "harmonization_table": label_table_markdown(),
        "results_table": results_table(evaluations),
        "base_model": front["base_model"],
        "onnx_section": ONNX_SECTION.format(repo_id=repo_id, name=repo_id.split("/")[-1]) if onnx else "",
        "provenance": provenance(config),
        "release_notes": release_notes(notes),
        **training_data(config),
    }
    missing = set(re.findall(r"\{\{(\w+)\}\}", text)) - set(values)
    if missing:
        raise ReleaseError(f"model_card.md uses unknown placeholders: {sorted(missing)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m.group(1)]), text)


def refuse_unloadable_code(folder: Path):
    """The fresh-process check runs this environment's transformers only; a folder must also load on the releases that
    copy its code less thoroughly (remote_code.py says how)."""
    problems = unloadable_code(folder)
    if problems:
        raise ReleaseError(f"{folder}: its code would not load with trust_remote_code on every transformers the "
                           f"project supports:\n" + "\n".join(f"- {problem}" for problem in problems))


def check_folder(folder: Path) -> str:
    """Serve the folder through the pipeline in a fresh, offline process started elsewhere."""
    with tempfile.TemporaryDirectory() as elsewhere:
        script = Path(elsewhere, "check.py")
        script.write_text(CHECK_SCRIPT)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(HF_HUB_OFFLINE="1", HF_HOME=str(Path(elsewhere, "hf")))
        result = subprocess.run([sys.executable, str(script), str(folder.resolve())], cwd=elsewhere, env=env,
                                capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise ReleaseError(f"{folder} does not serve the pipeline in a fresh process:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def push(folder: Path, repo_id: str, message: str):
    from huggingface_hub import HfApi
    from huggingface_hub.utils import get_token

    if not get_token():
        raise ReleaseError(f"no Hugging Face token: run `hf auth login` or set HF_TOKEN, then push again. "
                           f"The release is ready in {folder}.")
    try:
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        return api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=message)
    except Exception as err:  # network, permissions, rate limits: say which, keep the folder
        raise ReleaseError(f"upload to {repo_id} failed ({type(err).__name__}: {err}). "
                           f"The release is ready in {folder}; push again when the Hub is reachable.") from None


def release(checkpoint, repo_id: str, out=None, push_to_hub: bool = False, eval_json=(), commit_message: str = "",
            dtype: str = "float16", base_model: str | None = None, onnx: bool = False,
            overwrite: bool = False, notes=None) -> Path:
    from . import register
    from .modeling_emotion_whisper import WhisperForEmotionClassification

    # save_pretrained copies the modeling code only for classes registered with the Auto classes; run as
    # `python -m modeling_emotion_whisper.release`, nothing has registered them yet.
    register()
    check_repo_id(repo_id)
    # 1. The checkpoint, the folder and the evaluations, all checked before any work.
    if not Path(checkpoint, "config.json").exists():
        raise ReleaseError(f"{checkpoint} has no config.json: pass a folder saved by train.py or save_pretrained")
    folder = release_folder(out, repo_id, checkpoint, overwrite)
    try:
        evaluations = [json.loads(Path(p).read_text()) for p in eval_json]
    except (OSError, ValueError) as err:
        raise ReleaseError(f"--eval-json: {err}") from None
    try:
        notes_text = Path(notes).read_text(encoding="utf-8") if notes else None
    except (OSError, UnicodeDecodeError) as err:
        raise ReleaseError(f"--notes: {err}") from None
    try:
        model = WhisperForEmotionClassification.from_pretrained(checkpoint, dtype=getattr(torch, dtype))
    except (OSError, ValueError, RuntimeError) as err:
        raise ReleaseError(f"{checkpoint}: cannot load the model ({' '.join(str(err).split())})") from None
    if base_model:  # e.g. the Hub id of a local copy the model was trained from
        model.config.base_model = base_model
    # 2. The folder, written aside and renamed into place once checked.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    try:
        staging.chmod(0o777 & ~umask())  # mkdtemp makes it 0700
        _write_release(staging, checkpoint, repo_id, model, eval_json, evaluations, onnx, notes_text)
        replace_folder(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    # 5. Upload.
    if push_to_hub:
        push(folder, repo_id, commit_message or "Release emotion-whisper")
        print(f"pushed to https://huggingface.co/{repo_id}")
    print(f"release folder: {folder}")
    return folder


def _write_release(folder: Path, checkpoint, repo_id, model, eval_json, evaluations, onnx, notes):
    model.save_pretrained(folder)
    refuse_unloadable_code(folder)
    # 3. Model card and evaluation results.
    for i, path in enumerate(eval_json):
        shutil.copyfile(path, folder / f"eval_results_{i}.json" if len(eval_json) > 1 else folder / "eval_results.json")
    if onnx:  # from the float32 checkpoint, not the released half-precision weights; checked against PyTorch
        from .onnx_export import ExportError, export_onnx

        try:
            export_onnx(checkpoint, folder / "onnx", quantize="int8")
        except ExportError as err:
            raise ReleaseError(str(err)) from None
    (folder / "README.md").write_text(render_card(repo_id, model.config, evaluations, onnx=onnx, notes=notes))
    # 4. The fresh-process check.
    report = check_folder(folder)
    print(f"checked: {report}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--repo-id", required=True)
    parser.add_argument("--out")
    parser.add_argument("--eval-json", action="append", default=[])
    parser.add_argument("--push", action="store_true")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    parser.add_argument("--base-model", help="Hub id of the Whisper checkpoint trained from, if it was a local copy")
    parser.add_argument("--onnx", action="store_true", help="also write onnx/model.onnx and onnx/model_int8.onnx")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    parser.add_argument("--notes", help="a markdown file: how the model was made and chosen (a section of the card)")
    args = parser.parse_args(argv)
    try:
        release(args.checkpoint, args.repo_id, args.out, args.push, args.eval_json, dtype=args.dtype,
                base_model=args.base_model, onnx=args.onnx, overwrite=args.overwrite, notes=args.notes)
    except ReleaseError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
