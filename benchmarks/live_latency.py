"""Latency of `emotion-whisper live`, measured from outside as issue 27 (section 3) will check it.

    python benchmarks/live_latency.py --model checkpoints/emotion-whisper-base --onnx /tmp/onnx-base \
        --dataset_path data/speaker-split-neutral --seconds 60 --settings 0.5/4 0.2/2 1/6
    python benchmarks/live_latency.py --quick        # smoke run: 20 s of audio, hop 0.5 / context 4, torch only

Audio: one validation speaker's clips (seeded), grouped into runs of about 10 s of one emotion each, the emotion
changing from run to run (known changes), `--seconds` in all, after LEAD s of digital silence, 16 kHz s16le.

For each backend (torch; onnx fp32, dynamic int8 and, when the export has it, static int8) and each hop/context
setting, a fresh `emotion-whisper live - --json --hop H --context C [--backend onnx --model FILE]` process gets the
PCM on its stdin from a writer that sends BLOCK s blocks on a clock, each when its last sample would have been heard;
its JSON lines are read and timestamped as they arrive. The silence is written at once and the clock starts when the
line covering it has arrived (the model is loaded and has run), so start-up is not counted. Then:
- latency of a block of samples = arrival of the first line whose "time" >= the block's end, minus the wall time its
  write began (blocks on hop boundaries, so every sample of a block waits for the same line); median, p95 and max
  over the blocks (those covered only by the end-of-input lines are left out);
- CPU: the child's CPU time (user + system, all threads, from /proc/PID/stat) over the wall time of the real-time
  feed, in cores (the whole-life share from os.wait4, model loading included, is in the JSON);
- frames: the same audio through streaming.EmotionStream in this process (its output does not depend on how the
  audio is chunked, so these are the frames behind the command's lines; "hop labels = CLI" checks it on each line's
  label) against `inference.timeline` with PyTorch (10 frames/s), over the timeline's speech frames after the
  silence: "= timeline" is the share where the stream's top emotion is the timeline's (a stream frame without speech
  counts as a miss); "accuracy" is the share where the top emotion is the clip's label, for the stream and for the
  timeline (issue 27's target: within 5 points of the timeline).
Prints a markdown table. Run the full measurement on an idle machine (2 cores; nothing else running).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modeling_emotion_whisper.streaming import check_timing  # noqa: E402

RATE = 16000
BLOCK = 0.02  # seconds of audio per write: a 20 ms audio callback
LEAD = 1.0  # seconds of digital silence before the clips (a multiple of every hop)
RUN_SECONDS = 10.0  # seconds of one emotion before it changes
FRAME_RATE = 10.0  # output frames per second (the timeline's and the stream's default)
BACKENDS = {"torch": None, "onnx-fp32": "model.onnx", "onnx-int8": "model_int8.onnx",
            "onnx-int8-static": "model_int8_static.onnx"}


# ---- audio


def build_audio(dataset_path, seconds: float, seed: int, names):
    """(int16 samples, truth label per output frame, description): LEAD s of silence, then one validation speaker's
    clips, runs of about RUN_SECONDS of one emotion, the emotion changing between runs."""
    from datasets import load_from_disk

    from modeling_emotion_whisper.audio import load_audio

    rows = load_from_disk(dataset_path)["validation"]
    speakers, labels, durations = (np.asarray(rows[c]) for c in ("speaker", "label", "duration"))
    rng = np.random.default_rng(seed)
    runs = max(2, int(round(seconds / RUN_SECONDS)))
    eligible = []
    for speaker in sorted(set(speakers)):
        mine = speakers == speaker
        emotions = [e for e in sorted(set(labels[mine])) if durations[mine & (labels == e)].sum() >= RUN_SECONDS]
        if len(emotions) >= min(3, runs):
            eligible.append((speaker, emotions))
    if not eligible:
        raise SystemExit(f"no validation speaker in {dataset_path} has {RUN_SECONDS:g} s of each of 3 emotions")
    speaker, emotions = eligible[int(rng.integers(len(eligible)))]
    order = []
    while len(order) < runs:  # a seeded order of the speaker's emotions, never the same twice in a row
        for e in rng.permutation(emotions):
            if not order or order[-1] != e:
                order.append(int(e))
    per_run = seconds / runs
    waves, truth, used = [np.zeros(int(LEAD * RATE), dtype=np.float32)], [np.full(int(LEAD * RATE), -1)], []
    for emotion in order[:runs]:
        clips = np.flatnonzero((speakers == speaker) & (labels == emotion))
        heard = 0
        for i in rng.permutation(clips):
            wave = load_audio(rows[int(i)]["path"])
            waves.append(wave)
            truth.append(np.full(wave.size, emotion))
            used.append(Path(rows[int(i)]["path"]).name)
            heard += wave.size
            if heard >= per_run * RATE:
                break
    total = int((LEAD + seconds) * RATE)
    wave, truth = np.concatenate(waves)[:total], np.concatenate(truth)[:total]
    pcm = np.round(np.clip(wave, -1, 1) * 32767).astype("<i2")
    frame = int(RATE / FRAME_RATE)
    truth_frames = truth[frame // 2 :: frame]  # the label at each output frame's centre
    story = " -> ".join(names[e] if names else str(e) for e in order[:runs])
    return pcm, truth_frames, f"{pcm.size / RATE - LEAD:.1f} s: speaker {speaker}, {len(used)} clips, {story}"


# ---- one measured run of the command


def command():
    script = Path(sys.executable).with_name("emotion-whisper")
    return [str(script)] if script.exists() else [sys.executable, "-m", "modeling_emotion_whisper.cli"]


def _cpu_seconds(pid: int):
    """User + system CPU seconds of a live process (all its threads), or None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pcm: np.ndarray, backend: str, model: str, hop: float, context: float, startup_timeout: float) -> dict:
    argv = [*command(), "live", "-", "--json", "--hop", str(hop), "--context", str(context), "--model", model]
    if backend != "torch":
        argv += ["--backend", "onnx"]
    lines, arrived = [], threading.Event()
    with tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=REPO)

        def read():
            for raw in iter(child.stdout.readline, b""):
                lines.append((time.monotonic(), json.loads(raw)))
                arrived.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        def failed(what):
            child.kill()
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            return SystemExit(f"{backend} hop {hop} context {context}: {what}\n{' '.join(argv)}\n{tail}")

        lead = int(LEAD * RATE)
        try:
            child.stdin.write(pcm[:lead].tobytes())
            child.stdin.flush()
        except BrokenPipeError:
            raise failed("the command exited before reading its input") from None
        while not any(line["time"] >= LEAD - 1e-6 for _, line in lines):  # loaded, and the first passes done
            arrived.wait(1.0)
            arrived.clear()
            if child.poll() is not None:
                raise failed("the command exited before its first output")
            if time.monotonic() - started > startup_timeout:
                raise failed(f"no output within {startup_timeout:g} s")
        ready = time.monotonic() - started
        block = int(BLOCK * RATE)
        data = pcm[lead:]
        count = -(-data.size // block)
        entered, late = np.zeros(count), 0.0
        cpu0, clock = _cpu_seconds(child.pid), time.monotonic()
        for k in range(count):
            due = clock + (k + 1) * BLOCK  # the block's last sample has been heard
            time.sleep(max(0.0, due - time.monotonic()))
            entered[k] = time.monotonic()
            late = max(late, entered[k] - due)
            try:
                child.stdin.write(data[k * block : (k + 1) * block].tobytes())
                child.stdin.flush()
            except BrokenPipeError:
                raise failed("the command exited while being fed") from None
        cpu1, closed = _cpu_seconds(child.pid), time.monotonic()
        child.stdin.close()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        ended = time.monotonic()
        reader.join(10)
        child.stdout.close()
        if child.returncode:
            raise failed(f"exit status {child.returncode}")
    times = np.array([line["time"] for _, line in lines])
    stamps = np.array([at for at, _ in lines])
    ends = LEAD + (np.arange(count) + 1) * BLOCK  # audio time of each block's end
    first = np.searchsorted(np.maximum.accumulate(times), ends - 1e-6)  # the first line covering it
    covered = first < len(lines)
    latency = stamps[first[covered]] - entered[covered]
    live = stamps[first[covered]] <= closed  # not waiting for the end of input
    latency = latency[live]
    return {
        "latency_median": float(np.median(latency)), "latency_p95": float(np.percentile(latency, 95)),
        "latency_max": float(latency.max()), "blocks": int(live.sum()), "blocks_at_end": int(count - live.sum()),
        "cpu_cores": None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / (closed - clock),
        "cpu_cores_whole_life": (usage.ru_utime + usage.ru_stime) / (ended - started),
        "writer_late_max": late, "startup_seconds": ready,
        "lines": [line for _, line in lines],
    }


# ---- frames against the offline timeline


def stream_frames(scorer, extractor, pcm, hop, context):
    """Frames (top label or -1 without speech) and per-hop labels of the stream on the same PCM bytes."""
    from modeling_emotion_whisper.streaming import EmotionStream

    stream = EmotionStream(scorer, extractor, hop=hop, context=context)
    outputs = []
    data = pcm.tobytes()
    step = int(BLOCK * RATE) * 2
    for at in range(0, len(data), step):
        outputs += stream.feed(data[at : at + step])
    outputs += stream.finish()
    probabilities = np.concatenate([o.probabilities for o in outputs])
    speech = np.concatenate([o.speech for o in outputs])
    top = np.where(speech, np.nan_to_num(probabilities, nan=-1).argmax(1), -1)
    return top, [(round(o.end, 3), o.label) for o in outputs]


def frame_scores(top, reference, truth):
    """Over the reference's speech frames after the silence: stream = reference, stream = truth, reference = truth."""
    n = min(len(top), len(reference), len(truth))
    top, reference, truth = top[:n], reference[:n], truth[:n]
    use = (reference >= 0) & (np.arange(n) >= int(LEAD * FRAME_RATE))
    return {"frames": int(use.sum()), "agree": float(np.mean(top[use] == reference[use])),
            "accuracy": float(np.mean(top[use] == truth[use])),
            "timeline_accuracy": float(np.mean(reference[use] == truth[use]))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "checkpoints" / "emotion-whisper-base"))
    parser.add_argument("--onnx", default="/tmp/onnx-base",
                        help="export folder for the ONNX backends (exported when files are missing)")
    parser.add_argument("--dataset_path", default="data/speaker-split-neutral")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of clips (after the lead-in silence)")
    parser.add_argument("--settings", nargs="+", default=["0.5/4", "0.2/2", "1/6"], help="HOP/CONTEXT in seconds")
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS),
                        help="default: torch, onnx-fp32, onnx-int8, and onnx-int8-static when the export has it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 s, hop 0.5 / context 4, torch only")
    parser.add_argument("--startup_timeout", type=float, default=600.0)
    parser.add_argument("--json", help="also write every measurement (and the JSON lines) here")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.settings, args.backends = 20.0, ["0.5/4"], args.backends or ["torch"]
    settings = []
    for setting in args.settings:  # refused here, as the stream would refuse them, not after minutes of measuring
        try:
            hop, context = (float(x) for x in setting.split("/"))
        except ValueError:
            parser.error(f"--settings takes HOP/CONTEXT in seconds, e.g. 0.5/4; got {setting}")
        try:
            check_timing(hop, context, output_rate=FRAME_RATE)
        except ValueError as err:
            parser.error(f"--settings {setting}: {err}")
        settings.append((hop, context))
    onnx = Path(args.onnx)
    backends = args.backends or ["torch", "onnx-fp32", "onnx-int8"] + (
        ["onnx-int8-static"] if (onnx / BACKENDS["onnx-int8-static"]).exists() else [])
    if any(b != "torch" for b in backends) and not all((onnx / BACKENDS[b]).exists() for b in backends if b != "torch"):
        from modeling_emotion_whisper.onnx_export import export_onnx

        print("exporting to", onnx, flush=True)
        export_onnx(args.model, onnx, quantize="int8,int8-static" if "onnx-int8-static" in backends else "int8",
                    calibration=args.dataset_path)

    config = Path(args.model, "config.json")
    id2label = json.loads(config.read_text())["id2label"] if config.exists() else {}
    pcm, truth, story = build_audio(args.dataset_path, args.seconds, args.seed,
                                    {int(k): v for k, v in id2label.items()} or None)
    files = {b: args.model if b == "torch" else str(onnx / BACKENDS[b]) for b in backends}
    measured = {}
    for backend in backends:  # every command run first, while this process does nothing else
        for hop, context in settings:
            m = measured[backend, hop, context] = measure(pcm, backend, files[backend], hop, context,
                                                          args.startup_timeout)
            cpu = "n/a" if m["cpu_cores"] is None else f"{m['cpu_cores']:.2f}"
            print(f"{backend} hop {hop:g} context {context:g}: median {m['latency_median']:.3f} s, p95 "
                  f"{m['latency_p95']:.3f} s, {cpu} cores", flush=True)

    import soundfile as sf

    from modeling_emotion_whisper.inference import load_model, timeline
    from modeling_emotion_whisper.onnx_backend import OnnxScorer

    torch_model = load_model(args.model)
    with tempfile.TemporaryDirectory() as work:
        wav = Path(work, "live.wav")
        sf.write(wav, pcm, RATE, subtype="PCM_16")
        line = timeline(*torch_model, wav)
    reference = np.where(line.speech, np.nan_to_num(line.probabilities, nan=-1).argmax(1), -1)
    results = []
    for backend in backends:
        scorer, extractor = torch_model if backend == "torch" else (OnnxScorer(files[backend]), None)
        for hop, context in settings:
            m = measured[backend, hop, context]
            top, hop_labels = stream_frames(scorer, extractor, pcm, hop, context)
            cli = [(line["time"], line["label"]) for line in m["lines"] if "end" not in line]
            same = [a == b for a, b in zip(cli, hop_labels)] + [False] * abs(len(cli) - len(hop_labels))
            results.append({"backend": backend, "hop": hop, "context": context, **m,
                            **frame_scores(top, reference, truth), "hop_labels_equal_cli": float(np.mean(same))})
        del scorer, extractor

    print(f"\naudio: {story}; after {LEAD:g} s of silence, written as s16le at real-time pace "
          f"in {1000 * BLOCK:g} ms blocks; {os.cpu_count()} CPU threads; model {args.model}"
          + (f", exports in {onnx}" if any(b != "torch" for b in backends) else "") + "\n")
    print("| hop s | context s | backend | latency median s | p95 s | max s | CPU cores | frames = timeline % | "
          "accuracy stream % | accuracy timeline % | hop labels = CLI % |\n" + "|---" * 11 + "|")
    for r in sorted(results, key=lambda r: (r["hop"], r["context"], list(BACKENDS).index(r["backend"]))):
        cpu = "n/a" if r["cpu_cores"] is None else f"{r['cpu_cores']:.2f}"
        print(f"| {r['hop']:g} | {r['context']:g} | {r['backend']} | {r['latency_median']:.2f} | "
              f"{r['latency_p95']:.2f} | {r['latency_max']:.2f} | {cpu} | {100 * r['agree']:.1f} | "
              f"{100 * r['accuracy']:.1f} | {100 * r['timeline_accuracy']:.1f} | "
              f"{100 * r['hop_labels_equal_cli']:.0f} |")
    late = max(r["writer_late_max"] for r in results)
    print(f"\nframes: {results[0]['frames']} speech frames of the timeline; the writer ran at most "
          f"{1000 * late:.0f} ms "
          "behind its clock" + (" (the command did not keep up, or the machine is busy)" if late > 0.1 else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"audio": story, "seconds": args.seconds, "results": results}, indent=1))


if __name__ == "__main__":
    main()
