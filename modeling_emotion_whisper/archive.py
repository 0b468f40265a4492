"""Scoring archives: `emotion-whisper predict --out FILE.jsonl` (or FILE.parquet), resumable and sharded.

Inputs: files and folders (expanded as `predict` expands them), a file list (--list), or a `datasets` dataset
(--dataset: a folder written by save_to_disk, or whatever load_dataset loads: a Hub id, a folder of files). A dataset's
audio column is read undecoded, {"path", "bytes"} per row, and decoded here by soundfile as the pipeline decodes it
(no FFmpeg or torchcodec needed); a column of strings is read as file paths.

Rows: one per input, {"path", "label", "scores", "duration"}, or {"path", "error"} for an input that cannot be scored;
a dataset's rows also carry the row's "index". A row's key is its path (a dataset's: index and path). A re-run with
the same --out scores only the inputs without a row, so an interrupted run resumes; inputs that failed keep their
error row unless --retry-errors. The finished file lists the rows in the input order (rows of inputs no longer given
follow, in their old order).

Durability: rows are appended and fsynced every chunk (CHUNK_BATCHES batches, sorted by length inside the chunk), so
a killed run loses at most the chunk in flight; a line the kill cut short is dropped (and cut from the file) on the
re-run. One process writing JSONL appends to FILE itself, which can be followed while it grows. Parquet cannot be
appended and its footer comes last (a killed writer leaves no readable file), so rows are journalled to
FILE.rank-K.jsonl as they are scored and the Parquet file is written from the journal at the end, in row groups,
atomically (a temporary file renamed over FILE).

Sharding: under `accelerate launch` (WORLD_SIZE > 1) every process reads what is already done, waits for the others
(a barrier, so that nobody's new rows change anybody's view of the work), then takes its share of the inputs left:
every world-th one from its rank on, the same deal on every process without any message passed. Each appends to its
own FILE.rank-K.jsonl. After a last barrier the main process merges FILE and every part (including those of an earlier
run with another number of processes) into FILE in the input order, and deletes the parts. One process and N give the
same rows in the same order; scores agree to float rounding, since a batch groups different clips.

Not guarded: two runs writing the same --out at once (each would score everything left).
"""

import io
import json
import os
import sys
import time
from argparse import BooleanOptionalAction
from contextlib import nullcontext
from pathlib import Path

from .audio import SAMPLING_RATE, WINDOW_SECONDS, AudioError, check_rate, load_audio
from .outputs import check_output, printable, write_atomically

FORMATS = (".jsonl", ".parquet")
# Rows written (and lost to a kill) at a time, in batches: clips are sorted by length within a chunk, so a longer
# chunk pads less, and a shorter one loses less and moves the progress bar more often.
CHUNK_BATCHES = 4
PARQUET_ROW_GROUP = 10_000
# The last barrier waits for the slowest process: shares are dealt by count, not duration, so a few hour-long
# recordings can keep one process busy well past torch's default 30 minutes.
BARRIER_TIMEOUT_HOURS = 24


def add_arguments(parser):
    parser.add_argument("--out", metavar="FILE",
                        help="score an archive: one row per clip (path, label, scores, duration; or the error) to "
                             "FILE.jsonl or FILE.parquet, written as clips are scored. A re-run with the same --out "
                             "scores only what is not there yet; under `accelerate launch` each process scores its "
                             "share into the same FILE")
    parser.add_argument("--list", metavar="FILE",
                        help="also score the audio files (or folders) listed in FILE, one per line (relative paths are "
                             "relative to FILE's folder; blank lines and lines starting with # are skipped; - reads "
                             "standard input). A listed file that is missing gets an error row, like a missing file "
                             "given on the command line")
    parser.add_argument("--dataset", metavar="NAME",
                        help="score a `datasets` dataset instead of files: a folder written by save_to_disk, or a Hub "
                             "id or folder that load_dataset reads (needs --out)")
    parser.add_argument("--split", help="with --dataset: the split to score (needed when it has several)")
    parser.add_argument("--audio-column", metavar="COLUMN",
                        help="with --dataset: the column holding the audio (a datasets Audio column, or file paths); "
                             "default: audio")
    parser.add_argument("--retry-errors", action="store_true",
                        help="with --out: score again the inputs whose rows are errors (they are skipped otherwise)")
    parser.add_argument("--progress", action=BooleanOptionalAction, default=None,
                        help="with --out: a progress bar with clips per second and the time left on standard error "
                             "(default: only when it is a terminal)")


_ARCHIVE_ONLY = (("split", "--split"), ("audio_column", "--audio-column"), ("retry_errors", "--retry-errors"),
                 ("progress", "--progress"))


def plain_inputs(args) -> list[str]:
    """What `predict` without --out scores: the files and folders given, then those of --list; archive-only flags are
    refused rather than ignored."""
    for name, flag in _ARCHIVE_ONLY:
        if getattr(args, name, None) not in (None, False):
            raise ValueError(f"{flag} works with --out FILE.jsonl (or .parquet); give --out, or drop {flag}")
    items = list(args.files) + (read_list(args.list) if args.list else [])
    if not items:
        raise ValueError("nothing to score: give audio files or folders, --list FILE, or --dataset NAME with --out")
    return items


def read_list(path) -> list[str]:
    """The entries of a file list: one path a line, relative ones relative to the list's folder (as --speaker-csv's
    are); blank lines and # comments skipped; "-" reads standard input (paths relative to the working folder)."""
    if path == "-":
        lines, base = sys.stdin.read().splitlines(), ""
    else:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines, base = handle.read().splitlines(), os.path.dirname(path)
    entries = [line.strip() for line in lines]
    return [entry if os.path.isabs(entry) else os.path.join(base, entry)
            for entry in entries if entry and not entry.startswith("#")]


def _check_arguments(args):
    from .inference import check_batch_size

    check_batch_size(args.batch_size)
    if args.dataset and (args.files or args.list):
        raise ValueError("give --dataset, or files, folders and --list; not both")
    if not args.dataset and (args.split or args.audio_column):
        raise ValueError("--split and --audio-column choose within a dataset: give --dataset NAME")
    if not args.out:
        raise ValueError("--dataset needs --out FILE.jsonl or FILE.parquet, where its rows are written")
    if args.json:
        raise ValueError("--out writes every row as it is scored: drop --json")
    if args.adapt_to_inputs or args.speaker_pattern or args.speaker_csv or args.min_clips is not None:
        raise ValueError("--adapt-to-inputs, --speaker-pattern, --speaker-csv and --min-clips need the statistics of "
                         "all clips at once, and --out scores an archive a chunk at a time (and shards it across "
                         "processes): estimate an adaptation on a sample with `emotion-whisper adapt`, then pass "
                         "--adaptation")
    if not args.dataset and not args.files and not args.list:
        raise ValueError("nothing to score: give audio files or folders, --list FILE, or --dataset NAME")


# --- inputs ---------------------------------------------------------------------------------------------------------

def _key(index, path) -> tuple:
    """A row's identity across runs: the path as written, normalized ("./a.wav" is "a.wav"), and a dataset's row."""
    return (index, None if path is None else os.path.normpath(path))


def row_key(row: dict) -> tuple:
    return _key(row.get("index"), row.get("path"))


class FileInputs:
    """Audio files, in the order given (a folder: its files, sorted); a file given twice is scored once."""

    def __init__(self, paths):
        keys = {}
        for path in paths:
            keys.setdefault(_key(None, path), path)
        self.keys, self.paths = list(keys), list(keys.values())

    def stub(self, i) -> dict:
        return {"path": self.paths[i]}

    def sources(self, positions):
        return [(self.paths[i], self.paths[i]) for i in positions]  # (what is read, its name in errors)


class DatasetInputs:
    """The rows of a dataset split; their audio undecoded (bytes, else the path), read a chunk at a time."""

    def __init__(self, name, split=None, column=None):
        from datasets import Audio, Value

        data = _load_dataset(name, split)
        column = column or "audio"
        if column not in data.column_names:
            raise ValueError(f"{name} has no column {column!r} (its columns: {', '.join(data.column_names)}); choose "
                             "the audio with --audio-column")
        feature = data.features[column]
        self.audio = isinstance(feature, Audio)
        if not self.audio and not (isinstance(feature, Value) and feature.dtype in ("string", "large_string")):
            raise ValueError(f"{name}: column {column!r} holds {feature}, neither audio (a datasets Audio column) "
                             "nor file paths (strings); choose the audio with --audio-column")
        data = data.select_columns([column])
        if self.audio:  # decoded by soundfile here, as the pipeline does, not by datasets' decoder
            data = data.cast_column(column, Audio(decode=False))
        if getattr(data, "_indices", None) is not None:  # a selection: the rows' own order, for the arrow read below
            data = data.flatten_indices()
        self.data, self.column = data, column
        # the paths alone, from arrow: reading the rows would read every clip's bytes
        values = data.data.column(column)
        paths = [p for chunk in values.chunks for p in (chunk.field("path") if self.audio else chunk).to_pylist()]
        self.paths = paths
        self.keys = [_key(i, path) for i, path in enumerate(paths)]

    def stub(self, i) -> dict:
        return {"index": i, "path": self.paths[i]}

    def sources(self, positions):
        values = self.data[list(positions)][self.column] if positions else []
        out = []
        for i, value in zip(positions, values):
            name = self.paths[i] or f"row {i}"
            if self.audio:
                value = value["bytes"] if value.get("bytes") is not None else value.get("path")
            out.append((value, name) if value is not None else (None, name))
        return out


def _load_dataset(name, split):
    from datasets import DatasetDict, IterableDataset, IterableDatasetDict, load_dataset, load_from_disk

    folder = Path(name)
    saved = folder.is_dir() and any((folder / f).exists() for f in ("state.json", "dataset_dict.json"))
    data = load_from_disk(str(folder)) if saved else load_dataset(name, split=split) if split else load_dataset(name)
    if isinstance(data, (DatasetDict, IterableDatasetDict)):
        if split is None and len(data) != 1:
            raise ValueError(f"{name} has the splits {', '.join(data)}: choose one with --split")
        split = split or next(iter(data))
        if split not in data:
            raise ValueError(f"{name} has no split {split!r} (its splits: {', '.join(data)})")
        data = data[split]
    elif split is not None and saved:
        raise ValueError(f"{name} is one dataset without splits: drop --split {split}")
    if isinstance(data, IterableDataset):
        raise ValueError(f"{name}: a streaming dataset; --dataset scores datasets that load whole")
    return data


def _inputs(args, expand):
    if args.dataset:
        return DatasetInputs(args.dataset, args.split, args.audio_column), {}
    items = list(args.files) + (read_list(args.list) if args.list else [])
    files, unsearched = expand(items)
    if not files:
        raise ValueError(f"no audio files in {', '.join(items)}")
    return FileInputs(files), unsearched


# --- scoring --------------------------------------------------------------------------------------------------------

def _renamed(err, name) -> AudioError:
    return AudioError(str(err).replace("audio bytes", name, 1))


def _bytes_samples(data, name) -> int:
    """Length at 16 kHz of encoded audio in memory, from its header."""
    import soundfile as sf

    from .audio import _cannot_decode

    try:
        info = sf.info(io.BytesIO(data))
    except Exception as err:
        raise _cannot_decode(name, err) from None
    return info.frames * SAMPLING_RATE // check_rate(info.samplerate, name)


def _decode(data, name):
    try:
        return load_audio(data)
    except AudioError as err:
        raise _renamed(err, name) from None


def score_chunk(model, extractor, sources, batch_size, logit_adjustment) -> list[dict]:
    """predict_clips' results for [(source, name)]: paths as predict_clips reads them; encoded bytes (a dataset's)
    decoded here, those under 30 s together and batched, longer ones one at a time (up to an hour each in memory:
    predict_clips streams long files, but bytes have no file to stream)."""
    from .inference import predict_clips

    results, batched, at, long = [None] * len(sources), [], [], []
    for i, (source, name) in enumerate(sources):
        try:
            if source is None:
                raise AudioError(f"{name}: the row holds neither audio bytes nor a path")
            if isinstance(source, (bytes, bytearray)):
                if _bytes_samples(source, name) > WINDOW_SECONDS * SAMPLING_RATE:
                    long.append(i)
                    continue
                source = _decode(source, name)
        except AudioError as err:
            results[i] = {"error": str(err)}
            continue
        batched.append(source)
        at.append(i)
    options = dict(batch_size=batch_size, logit_adjustment=logit_adjustment, errors="report")
    for i, result in zip(at, predict_clips(model, extractor, batched, **options) if batched else []):
        results[i] = result
    for i in long:
        source, name = sources[i]
        try:
            results[i] = predict_clips(model, extractor, [_decode(source, name)], **options)[0]
        except AudioError as err:
            results[i] = {"error": str(err)}
    return results


def _row(stub, result) -> dict:
    if "error" in result:
        return {**stub, "error": result["error"]}
    return {**stub, "label": result["label"], "scores": result["scores"], "duration": float(result["duration"])}


# --- the output -----------------------------------------------------------------------------------------------------

def _is_row(row) -> bool:
    return (isinstance(row, dict) and "path" in row
            and ("error" in row or ("label" in row and isinstance(row.get("scores"), dict))))


def _jsonl_rows(path):
    """(key, row, line) of each complete line of a JSONL output; a last line without its newline (cut by a kill) is
    dropped."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                return
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
                row = json.loads(line)
            except ValueError:
                row = None
            if not _is_row(row):
                raise ValueError(f"{path}, line {number}: not a row written by `emotion-whisper predict --out` "
                                 f"({printable(raw[:80].decode('utf-8', 'replace'))}); give another --out, or move "
                                 "the file away")
            yield row_key(row), row, line


def _parquet_rows(path):
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as err:
        raise ValueError(f"{path}: not a Parquet file this can read ({err}); give another --out, or move the file "
                         "away") from None
    for batch in source.iter_batches(batch_size=PARQUET_ROW_GROUP):
        for row in batch.to_pylist():
            row = {name: value for name, value in row.items() if value is not None or name == "path"}
            if not _is_row(row):
                raise ValueError(f"{path}: not written by `emotion-whisper predict --out` (a row {row}); give another "
                                 "--out, or move the file away")
            yield row_key(row), row, json.dumps(row)


def _complete_length(path) -> int:
    """Bytes up to and including the last newline."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            step = min(65536, position)
            handle.seek(position - step)
            block = handle.read(step)
            found = block.rfind(b"\n")
            if found >= 0:
                return position - step + found + 1
            position -= step
        return 0


class Output:
    """FILE and its parts FILE.rank-K.jsonl."""

    def __init__(self, path):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(f"--out {path}: end the name in .jsonl or .parquet (the format written)")
        self.parquet = suffix == ".parquet"
        check_output(path, "--out")
        if self.parquet:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ValueError("--out FILE.parquet needs pyarrow: pip install pyarrow, or write FILE.jsonl") from None

    def part(self, rank) -> Path:
        return self.path.with_name(f"{self.path.name}.rank-{rank}.jsonl")

    def parts(self) -> list[Path]:
        prefix, found = f"{self.path.name}.rank-", []
        for entry in os.scandir(self.path.parent):
            rank = entry.name[len(prefix):-len(".jsonl")] if entry.name.startswith(prefix) else ""
            if entry.name.endswith(".jsonl") and rank.isdigit():
                found.append((int(rank), Path(entry.path)))
        return [path for _, path in sorted(found)]

    def rows(self):
        """(key, row, line) of every row already written: FILE, then the parts."""
        if self.path.exists():
            yield from (_parquet_rows if self.parquet else _jsonl_rows)(self.path)
        for part in self.parts():
            yield from _jsonl_rows(part)

    def done(self) -> tuple[dict, set]:
        """{key: whether its row is an error} and the label sets of the scored rows."""
        done, label_sets = {}, set()
        for key, row, _ in self.rows():
            error = "error" in row
            if not error:
                label_sets.add(tuple(row["scores"]))
            done[key] = done.get(key, True) and error  # a scored row stands over an error row
        return done, label_sets

    def target(self, rank, world) -> Path:
        """Where a process appends: one process writing JSONL, FILE itself; otherwise its part."""
        return self.path if world == 1 and not self.parquet else self.part(rank)

    def merge(self, keys, labels) -> dict:
        """FILE and the parts as one FILE, each input's row once (a scored row over an error row, else the later),
        in the order of `keys`; rows of other inputs follow in their old order. Written only when it changes."""
        position = {key: i for i, key in enumerate(keys)}
        parts = self.parts()
        rows, read_order, duplicates, indexed = {}, [], False, False
        for key, row, line in self.rows():
            error, indexed = "error" in row, indexed or "index" in row
            if key in rows:
                duplicates = True
                if error and not rows[key][1]:
                    continue
            else:
                read_order.append(key)
            rows[key] = (line, error)
        order = sorted(read_order, key=lambda key: (0, position[key]) if key in position else (1, 0))
        if parts or duplicates or order != read_order or (self.parquet and not self.path.exists()):
            lines = [rows[key][0] for key in order]
            if self.parquet:
                write_atomically(self.path, lambda temporary: _write_parquet(temporary, lines, labels, indexed))
            else:
                write_atomically(self.path, lambda temporary: _write_lines(temporary, lines))
        for part in parts:
            part.unlink()
        errors = sum(error for _, error in rows.values())
        return {"rows": len(rows), "errors": errors, "scored": len(rows) - errors}


def _write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")


def _write_parquet(path, lines, labels, indexed):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(([pa.field("index", pa.int64())] if indexed else []) + [
        pa.field("path", pa.string()), pa.field("label", pa.string()),
        pa.field("scores", pa.struct([pa.field(label, pa.float64()) for label in labels])),
        pa.field("duration", pa.float64()), pa.field("error", pa.string())])

    def prepared(row):
        path = row.get("path")
        if isinstance(path, str):  # a file name that is not UTF-8 (surrogate escapes) cannot go into a Parquet string
            path = path.encode("utf-8", "backslashreplace").decode("utf-8")
        return {**{name: row.get(name) for name in schema.names}, "path": path}

    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, max(len(lines), 1), PARQUET_ROW_GROUP):
            rows = [prepared(json.loads(line)) for line in lines[start : start + PARQUET_ROW_GROUP]]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


class _Appender:
    """Appends rows to a JSONL file, flushed and fsynced per call; first cuts a line a kill left half-written, which
    the next row would otherwise extend into garbage."""

    def __init__(self, path: Path):
        self.handle = open(path, "ab")
        complete = _complete_length(path)
        if self.handle.tell() > complete:
            self.handle.truncate(complete)
            self.handle.seek(complete)

    def write(self, rows):
        self.handle.write("".join(json.dumps(row) + "\n" for row in rows).encode("utf-8"))
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self):
        self.handle.close()


# --- processes ------------------------------------------------------------------------------------------------------

class Processes:
    """One process, or those `accelerate launch` started (WORLD_SIZE > 1: a torch.distributed group over accelerate's
    PartialState, gloo on CPU)."""

    def __init__(self, backend: str):
        self.state, self.world, self.rank, self.device = None, 1, 0, None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from datetime import timedelta

            import torch
            from accelerate import PartialState

            accelerator = getattr(torch, "accelerator", None)
            has_accelerator = accelerator.is_available() if accelerator else torch.cuda.is_available()
            # ONNX runs on onnxruntime's CPU provider: no device of its own, a CPU group
            self.state = PartialState(cpu=backend == "onnx" or not has_accelerator,
                                      timeout=timedelta(hours=BARRIER_TIMEOUT_HOURS))
            self.world, self.rank, self.device = self.state.num_processes, self.state.process_index, self.state.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wait(self):
        if self.state is not None:
            self.state.wait_for_everyone()

    def main_first(self):
        return self.state.main_process_first() if self.state is not None else nullcontext()

    def close(self):
        if self.state is not None:
            import torch.distributed

            if torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()

    def threads(self) -> int:
        """onnxruntime threads per process: its default takes every core in each process, so N processes on one
        machine would fight over them. OMP_NUM_THREADS when set (torchrun sets 1), else the cores shared out."""
        if self.world == 1:
            return 0
        value = os.environ.get("OMP_NUM_THREADS", "")
        if value.isdigit() and int(value) > 0:
            return int(value)
        local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
        return max(1, (os.cpu_count() or 1) // max(local, 1))


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, processes, setting):
    if setting is False:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # the light (onnx) install
        return _NoBar()
    description = f"rank {processes.rank}/{processes.world}" if processes.world > 1 else "scoring"
    # disable=None: shown only when standard error is a terminal, unless --progress
    return tqdm(total=total, unit="clip", desc=description, position=processes.rank, file=sys.stderr,
                disable=None if setting is None else False, dynamic_ncols=True, smoothing=0.1)


# --- the command ----------------------------------------------------------------------------------------------------

def run(args, load, expand) -> int:
    """`emotion-whisper predict --out FILE` (see the module docstring). `load(args)`: (model, extractor) or
    (OnnxScorer, None), as the command line loads them; `expand(items)`: (files, {folder: why unsearched})."""
    _check_arguments(args)
    output = Output(args.out)
    processes = Processes(args.backend)
    try:
        return _run(args, load, expand, output, processes)
    finally:
        processes.close()


def _run(args, load, expand, output, processes) -> int:
    from .inference import as_scorer

    def say(message):
        if processes.main:
            print(message, file=sys.stderr)

    with processes.main_first():  # a Hub dataset is downloaded once, by the main process
        inputs, unsearched = _inputs(args, expand)
    for why in unsearched.values():
        say(f"skipped {printable(why)}")
    done, label_sets = output.done()
    todo = [i for i, key in enumerate(inputs.keys) if key not in done or (args.retry_errors and done[key])]
    args.onnx_threads = processes.threads()
    model, extractor = load(args)
    if args.backend == "torch":
        import torch

        model.to(processes.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    labels = as_scorer(model, extractor).labels
    other = sorted(label_sets - {tuple(labels)})
    if other:
        raise ValueError(f"{args.out} holds scores for the labels {', '.join(other[0])}, this model scores "
                         f"{', '.join(labels)}: give another --out for this model")
    processes.wait()  # everyone has read what is done before anyone adds to it, so all deal out the same work
    share = todo[processes.rank :: processes.world]
    say(f"{len(inputs.keys) - len(todo)} of {len(inputs.keys)} inputs already in {printable(args.out)}; scoring "
        f"{len(todo)}" + (f" in {processes.world} processes" if processes.world > 1 else ""))
    started = time.perf_counter()
    bar = _progress(len(share), processes, args.progress)
    chunk = CHUNK_BATCHES * args.batch_size
    writer = _Appender(output.target(processes.rank, processes.world)) if share else None
    try:
        for start in range(0, len(share), chunk):
            positions = share[start : start + chunk]
            results = score_chunk(model, extractor, inputs.sources(positions), args.batch_size,
                                  args.logit_adjustment)
            writer.write([_row(inputs.stub(i), result) for i, result in zip(positions, results)])
            bar.update(len(positions))
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    processes.wait()
    elapsed = time.perf_counter() - started
    if not processes.main:
        return 0
    summary = output.merge(inputs.keys, labels)
    rate = f" ({len(todo) / elapsed:.2f} clips/s)" if todo and elapsed > 0 else ""
    say(f"{len(todo)} clips scored in {elapsed:.1f} s{rate}; {printable(args.out)} holds {summary['rows']} rows, "
        f"{summary['errors']} of them errors")
    return 0 if summary["scored"] else 1  # only when nothing could be scored
