"""A saved folder's code must load with trust_remote_code on transformers 4.57 to 5.9 too, which copy from a local
folder only the file they load and the modules it imports itself (modeling_emotion_whisper/remote_code.py). Offline:
the copying rule is replayed here, not installed."""

import importlib
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, tiny_config

from modeling_emotion_whisper.release import ReleaseError, release
from modeling_emotion_whisper.remote_code import loaded_files, loader_imports, unloadable_code


def saved_tiny_model(folder):
    from modeling_emotion_whisper import WhisperForEmotionClassification, register

    register()  # save_pretrained writes auto_map and copies the code only for registered classes
    torch.manual_seed(0)
    WhisperForEmotionClassification(tiny_config(num_domains=2)).save_pretrained(folder)
    return folder


def write_folder(folder, files: dict, impl="entry.Pipeline"):
    folder.mkdir()
    (folder / "config.json").write_text('{"custom_pipelines": {"audio-classification": {"impl": "%s"}}}' % impl)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_saved_folder_code_loads_under_the_oldest_copying_rule(tmp_path):
    folder = saved_tiny_model(tmp_path / "model")
    assert set(loaded_files(folder)) == {"configuration_emotion_whisper.py", "modeling_emotion_whisper.py",
                                         "pipeline_emotion_whisper.py"}
    assert unloadable_code(folder) == []


def test_old_copying_rule_replayed_imports_every_loaded_file(tmp_path, monkeypatch):
    """What 4.57.1's get_cached_module_file does with a local folder, step by step: copy the file and the modules
    check_imports returns for it (its direct relative imports) into a fresh module-cache package, hash it with
    everything it reaches (get_relative_import_files, reading from the cache), import it."""
    from transformers.dynamic_module_utils import check_imports, get_relative_import_files

    folder = saved_tiny_model(tmp_path / "model")
    monkeypatch.syspath_prepend(str(tmp_path / "cache"))
    for i, entry in enumerate(sorted(loaded_files(folder))):
        package = f"old_rule_cache_{i}"
        cache = tmp_path / "cache" / package
        cache.mkdir(parents=True)
        (cache / "__init__.py").write_text("")
        shutil.copyfile(folder / entry, cache / entry)
        for module in check_imports(folder / entry):
            shutil.copyfile(folder / f"{module}.py", cache / f"{module}.py")
        try:
            get_relative_import_files(cache / entry)  # FileNotFoundError on the old releases if a module is missing
            importlib.import_module(f"{package}.{entry[:-3]}")
        finally:
            for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
                del sys.modules[name]


def test_bundled_model_code_loads_under_the_oldest_copying_rule():
    bundled = REPO / "checkpoints" / "emotion-whisper-base"
    if not bundled.exists():
        pytest.skip("no bundled model")
    assert unloadable_code(bundled) == []


def test_check_finds_a_module_reached_only_through_another(tmp_path):
    nested = write_folder(tmp_path / "nested", {"entry.py": "from .middle import x\n",
                                                "middle.py": "from .leaf import y\nx = y\n", "leaf.py": "y = 1\n"})
    [problem] = unloadable_code(nested)
    assert "entry.py" in problem and "leaf.py (entry.py -> middle.py -> leaf.py)" in problem
    assert "from .leaf import" in problem  # says what to do
    (nested / "entry.py").write_text("from .middle import x\nfrom .leaf import y  # noqa: F401\n")
    assert unloadable_code(nested) == []


def test_check_finds_imports_the_loader_cannot_serve(tmp_path):
    # `from . import x` runs in Python but transformers' regular expressions do not see it: x is never copied
    bare = write_folder(tmp_path / "bare", {"entry.py": "from . import leaf\n", "leaf.py": "y = 1\n"})
    assert loader_imports(bare / "entry.py") == set()
    assert any("`from . import leaf`" in problem for problem in unloadable_code(bare))
    missing = write_folder(tmp_path / "missing", {"entry.py": "from .gone import x\n"})
    assert any("gone.py" in problem and "not in" in problem for problem in unloadable_code(missing))
    absent = write_folder(tmp_path / "absent", {}, impl="nowhere.Pipeline")
    assert any("nowhere.py" in problem for problem in unloadable_code(absent))
    outside = write_folder(tmp_path / "outside", {"entry.py": "from ..package import x\n"})
    assert any("outside the folder" in problem for problem in unloadable_code(outside))


def test_release_refuses_code_old_transformers_cannot_load(tmp_path, monkeypatch):
    """A module that only features.py imports loads on this environment's transformers (its fresh-process check
    passes), not on 4.57 to 5.9: the release stops before the card and the upload, and says which file to fix."""
    from modeling_emotion_whisper import WhisperForEmotionClassification

    saved_tiny_model(tmp_path / "ckpt")
    save = WhisperForEmotionClassification.save_pretrained

    def save_with_a_nested_import(self, directory, *args, **kwargs):
        save(self, directory, *args, **kwargs)
        features = Path(directory) / "features.py"
        features.write_text(features.read_text() + "\nfrom .helper import HELPER  # noqa: E402, F401\n")
        (Path(directory) / "helper.py").write_text("HELPER = 1\n")

    monkeypatch.setattr(WhisperForEmotionClassification, "save_pretrained", save_with_a_nested_import)
    with pytest.raises(ReleaseError, match=r"(?s)pipeline_emotion_whisper.py .*needs helper.py .*features.py"):
        release(tmp_path / "ckpt", "someone/x", out=tmp_path / "release", dtype="float32")
    assert not (tmp_path / "release" / "README.md").exists()
