"""emotion-whisper: the command line.

    emotion-whisper predict FILE... [--model PATH] [--json out.json]
    emotion-whisper predict FOLDER... | --list FILE | --dataset NAME --out rows.jsonl   (resumable; shards under
                                                            accelerate launch -m modeling_emotion_whisper.cli)
    emotion-whisper timeline FILE [--model PATH] [--json out.json] [--plot out.png]
    emotion-whisper adapt FOLDER --method feature --out adaptation.json   (then --adaptation adaptation.json)
    emotion-whisper export-onnx [--model PATH] --out DIR [--quantize int8 int8-static --calibration DATA]
                                                            (then --backend onnx --model DIR)
    emotion-whisper release CHECKPOINT --repo-id ORG/NAME [--push]
    emotion-whisper live [FILE | -] [--json]   (no source: the microphone; -: 16 kHz s16le PCM on stdin)
    emotion-whisper demo [--port P] [--backend onnx --model DIR]   (a Gradio app on 127.0.0.1; release --space DIR)

The default model is checkpoints/emotion-whisper-base in this repository.
"""

import argparse
import json
import sys
import time

from .audio import AudioError
from .outputs import check_output, printable, table, write_atomically


# One rule with adaptation.py: a prior adaptation already swapped the training prior for the target's.
ADJUSTMENT_HELP = ("adjust by the training label prior, or not (default: as the model was saved, its "
                   "apply_logit_adjustment, as the pipeline does; never under a prior adaptation, which replaces that "
                   "prior by the target's estimated one)")


_table = table


def _expand(items) -> tuple[list[str], dict[str, str]]:
    """Files as given; folders as every audio file below them (sorted), so a corpus folder can be passed whole.
    Also {folder: why} for each folder below that could not be searched. Broken links, FIFOs and devices with audio
    names are listed like files: scoring reports each (never opening a FIFO or device), none is passed over unsaid.
    Linked folders are not followed (a link loop would never end)."""
    import os
    from pathlib import Path

    from .audio import AUDIO_SUFFIXES

    files, unsearched = [], {}

    def unreadable(err: OSError):
        reason = "permission denied" if isinstance(err, PermissionError) else err.strerror
        unsearched[err.filename] = f"{err.filename}: {reason}; the folder was not searched"

    for item in items:
        path = Path(item)
        if path.is_dir():
            files += sorted(str(Path(folder, name)) for folder, _, names in os.walk(path, onerror=unreadable)
                            for name in names if Path(name).suffix.lower() in AUDIO_SUFFIXES)
        else:
            files.append(str(path))
    return files, unsearched


def _report(errors):
    for error in errors:
        print(f"skipped {printable(error)}", file=sys.stderr)


def _load(args):
    """(model, extractor) for the PyTorch backend; (OnnxScorer, None) for --backend onnx, which imports no torch."""
    if args.backend == "onnx":
        if not args.model:
            raise ValueError("--backend onnx needs --model DIR, a folder written by `emotion-whisper export-onnx`")
        if getattr(args, "adaptation", None):
            raise ValueError("--adaptation needs the PyTorch backend (--backend torch)")
        from .onnx_backend import OnnxScorer

        return OnnxScorer(args.model, threads=getattr(args, "onnx_threads", 0),
                          spinning=getattr(args, "onnx_spinning", True)), None
    from .adaptation import load_adaptation
    from .inference import load_model

    model, extractor = load_model(args.model)
    if getattr(args, "adaptation", None):
        model.set_adaptation(load_adaptation(args.adaptation))
    return model, extractor


def cmd_predict(args):
    from .archive import plain_inputs
    from .inference import MIN_ADAPTATION_CLIPS, check_batch_size, predict_clips

    if args.out or args.dataset:  # an archive: rows written as they are scored, resumable, sharded (archive.py)
        from .archive import run

        return run(args, _load, _expand)
    check_batch_size(args.batch_size)
    if args.min_clips is not None and args.min_clips < 2:
        raise ValueError(f"--min-clips {args.min_clips}: give 2 or more (a standard deviation needs two clips)")
    if args.json:
        check_output(args.json, "--json")
    items = plain_inputs(args)
    files, unsearched = _expand(items)
    _report(unsearched.values())
    if not files:
        raise ValueError(f"no audio files in {', '.join(items)}")
    groups = _speaker_groups(files, args)
    if args.adaptation and (args.adapt_to_inputs or groups is not None):
        raise ValueError("--adaptation and --adapt-to-inputs (or speaker groups) are two ways to adapt to the inputs; "
                         "the second would silently replace the first: pass one")
    model, extractor = _load(args)
    # bad files are reported one line each; the others are still scored, in batches
    results = predict_clips(model, extractor, files, batch_size=args.batch_size,
                            logit_adjustment=args.logit_adjustment, errors="report",
                            adapt_to_inputs=args.adapt_to_inputs or groups is not None, groups=groups,
                            min_clips=args.min_clips or MIN_ADAPTATION_CLIPS)
    scored = [(p, r) for p, r in zip(files, results) if "error" not in r]
    rows = [(p, r["label"], f"{r['scores'][r['label']]:.3f}", f"{r['duration']:.2f}") for p, r in scored]
    print(_table(rows, ["file", "emotion", "score", "seconds"]))
    _report(result["error"] for result in results if "error" in result)
    if args.json:
        answers = {**{folder: {"error": why} for folder, why in unsearched.items()}, **dict(zip(files, results))}
        _write_json(args.json, answers, indent=1)
    return 0 if scored else 1  # only when nothing could be scored


def _write_json(path, value, **options):
    def write(temporary):
        with open(temporary, "w") as handle:
            json.dump(value, handle, **options)

    write_atomically(path, write)


def _speaker_groups(files, args):
    """The speaker of each file, from --speaker-pattern (a regular expression on the file name: its first group, or
    the whole match) or --speaker-csv (a table with a path column); None when neither is given."""
    import csv
    import re
    from pathlib import Path

    if args.speaker_pattern and args.speaker_csv:
        raise ValueError("give --speaker-pattern or --speaker-csv, not both")
    if args.speaker_pattern:
        try:
            pattern = re.compile(args.speaker_pattern)
        except re.error as err:
            raise ValueError(f"--speaker-pattern {args.speaker_pattern!r} is not a regular expression: {err}")
        groups = []
        for path in files:
            found = pattern.search(Path(path).name)
            if not found:
                raise ValueError(f"--speaker-pattern {args.speaker_pattern!r} does not match {Path(path).name}")
            groups.append(found.group(1) if pattern.groups else found.group(0))
        return groups
    if args.speaker_csv:
        with open(args.speaker_csv, newline="") as handle:
            table = list(csv.DictReader(handle))
        for column in ("path", args.speaker_column):
            if not table or column not in table[0]:
                raise ValueError(f"{args.speaker_csv} has no {column!r} column (columns: "
                                 f"{', '.join(table[0]) if table else 'none'})")
        base = Path(args.speaker_csv).parent  # relative paths in the table are relative to the table
        speaker_of = {str((base / row["path"]).resolve()): row[args.speaker_column] for row in table}
        missing = [f for f in files if str(Path(f).resolve()) not in speaker_of]
        if missing:
            raise ValueError(f"{len(missing)} file(s) are not in {args.speaker_csv}, e.g. {missing[0]}")
        return [speaker_of[str(Path(f).resolve())] for f in files]
    return None


def cmd_timeline(args):
    from pathlib import Path

    from .audio import audio_info
    from .inference import check_timeline_settings, plot_timeline, timeline

    check_timeline_settings(args.window, args.stride, args.batch_size, args.smoothing, args.min_segment,
                            args.frame_rate)
    if args.json:
        check_output(args.json, "--json")
    if args.plot:
        check_output(args.plot, "--plot", plot=True)
    audio_info(args.file)  # a missing, unreadable or absurd file is refused before the model loads
    model, extractor = _load(args)
    started = time.time()
    result = timeline(model, extractor, args.file, window=args.window, stride=args.stride,
                      batch_size=args.batch_size, smoothing=args.smoothing, min_segment=args.min_segment,
                      output_rate=args.frame_rate, logit_adjustment=args.logit_adjustment)
    elapsed = time.time() - started
    rows = [(f"{s.start:8.2f}", f"{s.end:8.2f}", s.emotion, f"{s.confidence:.3f}") for s in result.segments]
    print(_table(rows, ["start", "end", "emotion", "confidence"]) if rows else result.no_segment_reason())
    print(f"\n{result.duration:.1f} s of audio in {elapsed:.1f} s (real-time factor {elapsed / max(result.duration, 1e-9):.3f})")
    if args.json:
        _write_json(args.json, result.to_dict())
    if args.plot:
        image = Path(args.plot).suffix[1:].lower()
        write_atomically(args.plot, lambda temporary: plot_timeline(result, temporary, title=str(args.file),
                                                                    file_format=image))
        print(f"plot: {printable(args.plot)}")
    return 0


def cmd_adapt(args):
    import numpy as np

    from .adaptation import estimate, save_adaptation
    from .inference import load_model, predict_clips

    check_output(args.out, "--out")
    files, unsearched = _expand(args.audio)
    _report(unsearched.values())
    if len(files) < 2:
        raise ValueError("adaptation needs several unlabeled clips of the target domain (a folder or files)")
    model, extractor = load_model(args.model)
    logits, features = [], []
    for result in predict_clips(model, extractor, files, return_raw=True, errors="report"):
        if "error" in result:
            _report([result["error"]])
            continue
        logits.append(result["logits"])
        features.append(result["features"])
    if len(logits) < 2:
        raise ValueError(f"only {len(logits)} of {len(files)} clips could be scored; adaptation needs at least 2")
    stats = estimate(args.method, model, np.asarray(logits), np.asarray(features))
    stats["clips"] = len(logits)
    write_atomically(args.out, lambda temporary: save_adaptation(stats, temporary))
    print(f"{args.method} adaptation from {len(logits)} clips written to {printable(args.out)}")
    return 0


def cmd_export_onnx(args):
    from pathlib import Path

    from .inference import DEFAULT_MODEL
    from .onnx_export import ExportError, export_onnx

    if not args.tolerance > 0:
        raise ValueError(f"--tolerance {args.tolerance:g}: give a positive number")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out}: is a file; give a folder")
    if args.calibration and "int8-static" not in args.quantize:
        raise ValueError("--calibration calibrates --quantize int8-static; add it, or drop --calibration")
    try:
        report = export_onnx(args.model or DEFAULT_MODEL, args.out, quantize=",".join(args.quantize),
                             tolerance=args.tolerance, calibration=args.calibration,
                             calibration_clips=args.calibration_clips)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    streams = any("stream_logits" in r for r in report.values())
    rows = [(name, f"{r['logits']:.2e}", f"{r['frame_logits']:.2e}")
            + ((f"{r['stream_logits']:.2e}",) if streams else ()) + (f"{100 * r['same_label']:.1f}",)
            for name, r in report.items()]
    print(_table(rows, ["file", "max |logit diff| clips", "frames"] + (["stream head"] if streams else [])
                 + ["same label %"]))
    print(f"\nchecked against PyTorch on generated audio; written to {args.out}")
    return 0


def cmd_release(args):
    if args.space:  # a Space instead of a model folder: demo.py writes it
        from .demo import write_space

        if args.push or args.out or args.eval_json or args.onnx or args.notes:
            raise ValueError("--space writes only the Space folder: drop --push, --out, --eval-json, --notes and --onnx "
                             "(push the folder with `hf upload ORG/SPACE DIR --repo-type space`)")
        write_space(args.checkpoint, args.space, args.repo_id, package_spec=args.package_spec,
                    overwrite=args.overwrite)
        return 0
    from .release import ReleaseError, release

    try:
        release(args.checkpoint, args.repo_id, out=args.out, push_to_hub=args.push, eval_json=args.eval_json,
                commit_message=args.commit_message, onnx=args.onnx, overwrite=args.overwrite, notes=args.notes)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_live(args):
    from .live import run

    return run(args, _load)


def cmd_demo(args):
    from .demo import run

    return run(args, _load)


def build_parser():
    parser = argparse.ArgumentParser(prog="emotion-whisper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    predict = sub.add_parser("predict", help="emotion of each clip")
    predict.add_argument("files", nargs="*", help="audio files (any format soundfile reads) or folders of them")
    predict.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    predict.add_argument("--json", help="also write the scores here")
    predict.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    predict.add_argument("--logit-adjustment", action=argparse.BooleanOptionalAction, help=ADJUSTMENT_HELP)
    predict.add_argument("--adaptation", help="an adaptation JSON written by `emotion-whisper adapt`")
    predict.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                         help="onnx: run a folder written by export-onnx under onnxruntime, without torch")
    predict.add_argument(
        "--adapt-to-inputs", action="store_true",
        help="standardize the model's features on the statistics of the clips being scored (no labels needed). "
             "Helps when the clips together span the emotions, e.g. a whole corpus or a call centre's calls "
             "(zero-shot gains on the shared corpora: docs/results.md); needs --min-clips of them")
    predict.add_argument(
        "--speaker-pattern", metavar="REGEX",
        help="standardize per speaker instead, the speaker being this regular expression's first group in the file "
             "name (e.g. '^(\\d+)_' or 'spk(\\w+)-'). Best when each speaker's clips span the emotions (acted "
             "data); it hurts when speakers show only one or two emotions each, as in most real recordings: there "
             "use --adapt-to-inputs alone")
    predict.add_argument("--speaker-csv", metavar="FILE",
                         help="like --speaker-pattern, with speakers from a CSV table with a path column (relative "
                              "paths are relative to the table)")
    predict.add_argument("--speaker-column", default="speaker", help="the speaker column of --speaker-csv")
    predict.add_argument("--min-clips", type=int, default=None,
                         help="fewest clips per group to adapt to (default 20: fewer make scores worse than no "
                              "adaptation; docs/results.md)")
    from .archive import add_arguments as archive_arguments

    archive_arguments(predict)
    predict.set_defaults(run=cmd_predict)

    line = sub.add_parser("timeline", help="emotion over time for a recording of any length")
    line.add_argument("file")
    line.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    line.add_argument("--json", help="write segments and frame probabilities here")
    line.add_argument("--plot", help="draw probabilities and segments to this PNG")
    line.add_argument("--window", type=float, default=30.0, help="window length in seconds (1 to 30)")
    line.add_argument("--stride", type=float, default=20.0, help="seconds between window starts (1 to the window)")
    line.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")
    line.add_argument("--smoothing", type=float, default=1.0, help="moving-average width in seconds")
    line.add_argument("--min-segment", type=float, default=1.0, help="shorter segments join a neighbour (s)")
    line.add_argument("--frame-rate", type=float, default=10.0, help="output frames per second (at most 50)")
    line.add_argument("--logit-adjustment", action=argparse.BooleanOptionalAction, help=ADJUSTMENT_HELP)
    line.add_argument("--adaptation", help="an adaptation JSON written by `emotion-whisper adapt`")
    line.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                         help="onnx: run a folder written by export-onnx under onnxruntime, without torch")
    line.set_defaults(run=cmd_timeline)

    export = sub.add_parser("export-onnx", help="export a model to ONNX (and int8), checked against PyTorch")
    export.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    export.add_argument("--out", required=True, help="output folder (model.onnx, model_int8.onnx, config.json)")
    export.add_argument("--quantize", nargs="+", choices=["int8", "int8-static"], default=[],
                        help="also write model_int8.onnx (int8: dynamic) and/or model_int8_static.onnx (int8-static: "
                             "calibrated on --calibration)")
    export.add_argument("--calibration", metavar="DATA",
                        help="for int8-static: a dataset folder built by data_scripts.build (its train split) or a "
                             "folder of audio files")
    export.add_argument("--calibration-clips", type=int, default=64, help="clips drawn from --calibration")
    export.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest |logit difference| from PyTorch the fp32 graph may show on the check audio")
    export.set_defaults(run=cmd_export_onnx)

    adapt = sub.add_parser("adapt", help="estimate an unsupervised adaptation from unlabeled target-domain audio")
    adapt.add_argument("audio", nargs="+", help="audio files or folders of the target domain (no labels needed)")
    adapt.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    adapt.add_argument("--method", default="feature", choices=["feature", "logit", "prior"],
                       help="feature: standardize pooled features; logit: centre logits; prior: EM label prior "
                            "(it replaces the training prior, so --logit-adjustment is then not applied)")
    adapt.add_argument("--out", required=True, help="where to write the adaptation JSON")
    adapt.set_defaults(run=cmd_adapt)

    rel = sub.add_parser("release", help="write a Hub-ready folder, check it, optionally upload it")
    rel.add_argument("checkpoint", help="a saved emotion-whisper model folder")
    rel.add_argument("--repo-id", required=True, help="ORG/NAME on the Hugging Face Hub")
    rel.add_argument("--out", help="output folder (default: release/NAME); refused if it holds anything, unless "
                                   "--overwrite")
    rel.add_argument("--overwrite", action="store_true",
                     help="replace a non-empty --out folder (everything in it is deleted, once the release is checked)")
    rel.add_argument("--eval-json", action="append", default=[], help="results.json of evaluate_model.py (repeat)")
    rel.add_argument("--notes", help="a markdown file: how the model was made and chosen (a section of the card)")
    rel.add_argument("--push", action="store_true", help="upload with huggingface_hub after the checks")
    rel.add_argument("--commit-message", default="Release emotion-whisper", help="Hub commit message")
    rel.add_argument("--onnx", action="store_true", help="also export onnx/model.onnx and onnx/model_int8.onnx")
    rel.add_argument("--space", metavar="DIR",
                     help="write a Hub Space folder instead: the demo on CPU with the ONNX model (refused if DIR "
                          "holds anything, unless --overwrite)")
    rel.add_argument("--package-spec", help="with --space: the requirement that installs this package on the Space "
                                            "(default: this checkout's git origin at HEAD, else a placeholder)")
    rel.set_defaults(run=cmd_release)

    from .live import add_arguments as live_arguments

    live = sub.add_parser("live", help="emotion as it is heard: the microphone, PCM on stdin (-) or a FILE")
    live_arguments(live)
    live.set_defaults(run=cmd_live)

    from .demo import add_arguments as demo_arguments

    demo = sub.add_parser("demo", help="the model in a browser: a clip's timeline, or the microphone live (Gradio)")
    demo_arguments(demo)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (AudioError, OSError, ValueError) as err:  # the user's input or environment: said in one line
        print(f"error: {printable(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
