"""emotion-whisper: the command line.

    emotion-whisper predict FILE... [--model PATH] [--json out.json]
    emotion-whisper timeline FILE [--model PATH] [--json out.json] [--plot out.png]
    emotion-whisper adapt FOLDER --method feature --out adaptation.json   (then --adaptation adaptation.json)
    emotion-whisper release CHECKPOINT --repo-id ORG/NAME [--push]

The default model is checkpoints/emotion-whisper-base in this repository.
"""

import argparse
import json
import sys
import time

from .audio import AudioError


def _table(rows, header):
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]])


def _expand(items) -> list[str]:
    """Files as given; folders as every audio file below them (sorted), so a corpus folder can be passed whole."""
    from pathlib import Path

    from .audio import AUDIO_SUFFIXES

    files = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            files.append(str(path))
    return files


def _load(args):
    from .adaptation import load_adaptation
    from .inference import load_model

    model, extractor = load_model(args.model)
    if getattr(args, "adaptation", None):
        model.set_adaptation(load_adaptation(args.adaptation))
    return model, extractor


def cmd_predict(args):
    from .inference import predict_clips

    files = _expand(args.files)
    if not files:
        raise ValueError(f"no audio files in {', '.join(args.files)}")
    model, extractor = _load(args)
    # bad files are reported one line each; the others are still scored, in batches
    results = predict_clips(model, extractor, files, batch_size=args.batch_size,
                            logit_adjustment=args.logit_adjustment, errors="report")
    scored = [(p, r) for p, r in zip(files, results) if "error" not in r]
    rows = [(p, r["label"], f"{r['scores'][r['label']]:.3f}", f"{r['duration']:.2f}") for p, r in scored]
    print(_table(rows, ["file", "emotion", "score", "seconds"]))
    for result in results:
        if "error" in result:
            print(f"skipped {result['error']}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(dict(zip(files, results)), handle, indent=1)
    return 0 if scored else 1  # only when nothing could be scored


def cmd_timeline(args):
    from .inference import plot_timeline, timeline

    model, extractor = _load(args)
    started = time.time()
    result = timeline(model, extractor, args.file, window=args.window, stride=args.stride,
                      batch_size=args.batch_size, smoothing=args.smoothing, min_segment=args.min_segment,
                      output_rate=args.frame_rate, logit_adjustment=args.logit_adjustment)
    elapsed = time.time() - started
    rows = [(f"{s.start:8.2f}", f"{s.end:8.2f}", s.emotion, f"{s.confidence:.3f}") for s in result.segments]
    print(_table(rows, ["start", "end", "emotion", "confidence"]) if rows else "no speech")
    print(f"\n{result.duration:.1f} s of audio in {elapsed:.1f} s (real-time factor {elapsed / max(result.duration, 1e-9):.3f})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result.to_dict(), handle)
    if args.plot:
        plot_timeline(result, args.plot, title=str(args.file))
        print(f"plot: {args.plot}")
    return 0


def cmd_adapt(args):
    import numpy as np

    from .adaptation import estimate, save_adaptation
    from .inference import load_model, predict_clips

    files = _expand(args.audio)
    if len(files) < 2:
        raise ValueError("adaptation needs several unlabeled clips of the target domain (a folder or files)")
    model, extractor = load_model(args.model)
    logits, features = [], []
    for result in predict_clips(model, extractor, files, return_raw=True, errors="report"):
        if "error" in result:
            print(f"skipped {result['error']}", file=sys.stderr)
            continue
        logits.append(result["logits"])
        features.append(result["features"])
    if len(logits) < 2:
        raise ValueError(f"only {len(logits)} of {len(files)} clips could be scored; adaptation needs at least 2")
    stats = estimate(args.method, model, np.asarray(logits), np.asarray(features))
    stats["clips"] = len(logits)
    save_adaptation(stats, args.out)
    print(f"{args.method} adaptation from {len(logits)} clips written to {args.out}")
    return 0


def cmd_release(args):
    from .release import ReleaseError, release

    try:
        release(args.checkpoint, args.repo_id, out=args.out, push_to_hub=args.push, eval_json=args.eval_json,
                commit_message=args.commit_message)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="emotion-whisper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    predict = sub.add_parser("predict", help="emotion of each clip")
    predict.add_argument("files", nargs="+", help="audio files (any format soundfile reads) or folders of them")
    predict.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    predict.add_argument("--json", help="also write the scores here")
    predict.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    predict.add_argument("--logit-adjustment", action="store_true", help="adjust by the training label prior")
    predict.add_argument("--adaptation", help="an adaptation JSON written by `emotion-whisper adapt`")
    predict.set_defaults(run=cmd_predict)

    line = sub.add_parser("timeline", help="emotion over time for a recording of any length")
    line.add_argument("file")
    line.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    line.add_argument("--json", help="write segments and frame probabilities here")
    line.add_argument("--plot", help="draw probabilities and segments to this PNG")
    line.add_argument("--window", type=float, default=30.0, help="window length in seconds (at most 30)")
    line.add_argument("--stride", type=float, default=20.0, help="seconds between window starts")
    line.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")
    line.add_argument("--smoothing", type=float, default=1.0, help="moving-average width in seconds")
    line.add_argument("--min-segment", type=float, default=1.0, help="shorter segments join a neighbour (s)")
    line.add_argument("--frame-rate", type=float, default=10.0, help="output frames per second")
    line.add_argument("--logit-adjustment", action="store_true", help="adjust by the training label prior")
    line.add_argument("--adaptation", help="an adaptation JSON written by `emotion-whisper adapt`")
    line.set_defaults(run=cmd_timeline)

    adapt = sub.add_parser("adapt", help="estimate an unsupervised adaptation from unlabeled target-domain audio")
    adapt.add_argument("audio", nargs="+", help="audio files or folders of the target domain (no labels needed)")
    adapt.add_argument("--model", help="saved model folder or Hub id (default: checkpoints/emotion-whisper-base)")
    adapt.add_argument("--method", default="feature", choices=["feature", "logit", "prior"],
                       help="feature: standardize pooled features; logit: centre logits; prior: EM label prior")
    adapt.add_argument("--out", required=True, help="where to write the adaptation JSON")
    adapt.set_defaults(run=cmd_adapt)

    rel = sub.add_parser("release", help="write a Hub-ready folder, check it, optionally upload it")
    rel.add_argument("checkpoint", help="a saved emotion-whisper model folder")
    rel.add_argument("--repo-id", required=True, help="ORG/NAME on the Hugging Face Hub")
    rel.add_argument("--out", help="output folder (default: release/NAME)")
    rel.add_argument("--eval-json", action="append", default=[], help="results.json of evaluate_model.py (repeat)")
    rel.add_argument("--push", action="store_true", help="upload with huggingface_hub after the checks")
    rel.add_argument("--commit-message", default="Release emotion-whisper", help="Hub commit message")
    rel.set_defaults(run=cmd_release)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (AudioError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
