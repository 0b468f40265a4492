"""What the command line writes for the user: checked before the work, written whole or not at all, printed safely.

- `check_output` refuses, before any audio is scored, an output path the work could not end in writing (a missing or
  read-only folder, a folder in the file's place, a plot format matplotlib lacks): the scoring is never lost to it.
- `write_atomically` writes a temporary file in the target's folder and renames it over the target: killed part way,
  the user keeps the previous file and never finds a truncated one in its place.
- `printable` escapes control characters, so that a file name with a newline cannot forge a row of a table or a line
  of the report; `table` prints rows so.
"""

import os
import shutil
import tempfile
import unicodedata
from pathlib import Path

# Unicode's control, format and separator characters: line breaks, escapes, bidirectional overrides
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def printable(text) -> str:
    """`text` with its control characters escaped as Python writes them (a newline as \\n, ESC as \\x1b)."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in _UNPRINTABLE else c for c in str(text))


def table(rows, header) -> str:
    """Rows under a header, in columns; every cell `printable`, so that a newline in a file name cannot forge a row."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]])


def plot_formats() -> list[str]:
    """The file extensions matplotlib writes ("png", "pdf", ...); ValueError without matplotlib."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:  # the light (onnx) install has no plotting
        raise ValueError("drawing the timeline needs matplotlib: pip install matplotlib (the JSON needs nothing)")
    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_output(path, flag: str, plot: bool = False):
    """Refuse `path` (given as `flag`) unless a file can be written there: its folder exists and is writable, no folder
    is in its place, and for a plot, matplotlib writes its extension."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: permission denied: cannot write in {folder}")
    if plot:
        formats = plot_formats()
        if target.suffix[1:].lower() not in formats:
            raise ValueError(f"{flag} {path}: matplotlib cannot write {target.suffix or 'a file without an extension'}"
                             f"; end the name in one of .{', .'.join(formats)}")


def umask() -> int:
    try:  # Linux: read without setting it, which would change it for a moment for every thread
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def default_mode() -> int:
    """The mode a new file gets from the umask (tempfile makes 0600 files)."""
    return 0o666 & ~umask()


def write_atomically(path, write):
    """Call write(temporary path) in the folder of `path`, then rename the file onto `path` (with the mode a new file
    gets there); on any failure the temporary file is removed and `path` is left as it was."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, default_mode())
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def replaceable_folder(folder, option: str, overwrite: bool, protected: dict) -> Path:
    """A folder a command may fill (release, a Space), refused with ValueError when writing it could destroy anything
    the command did not create: a link or a file in its place, a folder holding one of `protected` ({what: path}),
    or a non-empty folder without `overwrite`."""
    folder = Path(folder)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ValueError(f"{option} {folder}: is a {'symbolic link' if folder.is_symlink() else 'file'}, not a "
                         f"folder; choose another {option}")
    resolved = folder.resolve()
    for what, path in protected.items():
        path = Path(path).resolve()
        if resolved == path or resolved in path.parents:
            raise ValueError(f"{option} {folder}: replacing it would delete {what} ({path}); choose another {option}")
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise ValueError(f"{option} {folder}: exists and is not empty; choose another {option}, or pass --overwrite "
                         "to replace it (everything in it is deleted)")
    return folder


def replace_folder(staging: Path, folder: Path):
    """Rename a finished `staging` folder (made beside `folder`) into place; an existing `folder` (empty, or checked
    by `replaceable_folder` with overwrite) is replaced only then, so a failure part way leaves it as it was."""
    if folder.exists() and any(folder.iterdir()):
        replaced = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".replaced", dir=folder.parent))
        os.replace(folder, replaced / folder.name)
        os.replace(staging, folder)
        shutil.rmtree(replaced)
    else:
        os.replace(staging, folder)  # an empty folder is replaced in one step
