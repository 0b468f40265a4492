"""Will a saved folder's code load with `trust_remote_code=True` on the transformers releases this project supports?

transformers does not import remote code from the folder: it copies it, file by file, into its module cache and
imports it there. From a local folder, transformers 4.57 to 5.9 copy the file they are asked for (one that a config
names in `auto_map` or `custom_pipelines`) and the modules that file itself imports relatively, and no further;
5.10 and later copy every module it reaches (a Hub repo is followed to the end in every release). Right after
copying, every release hashes the file with everything it reaches (reading each from the cache) and imports it. So
a module reached only through another saved module is missing from the cache on the older releases, and the folder
fails to load there: "FileNotFoundError: ...transformers_modules/<folder>/mel.py".

transformers finds relative imports with two regular expressions (`import .x` and `from .x import` at the start of
a line), not with Python's parser; both views are taken here: the loader's to decide what gets copied, Python's (ast)
to decide what the code needs when it runs. Standard library only, so that any tool can run the check.
"""

import ast
import json
import re
from pathlib import Path

# transformers.dynamic_module_utils.get_relative_imports, the same from 4.57.1 to 5.25.0.
_LOADER_PATTERNS = (re.compile(r"^\s*import\s+\.(\S+)\s*$", re.MULTILINE),
                    re.compile(r"^\s*from\s+\.(\S+)\s+import", re.MULTILINE))
OLDEST_RULE = "transformers 4.57 to 5.9"


def loader_imports(path: Path) -> set[str]:
    """The relative imports transformers sees in a file: the modules it copies next to it on every release."""
    text = path.read_text(encoding="utf-8")
    return {name for pattern in _LOADER_PATTERNS for name in pattern.findall(text)}


def python_imports(path: Path) -> tuple[set[str], list[str]]:
    """The folder modules a file imports when Python runs it, and the relative imports the loader cannot serve."""
    modules, unusable = set(), []
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as err:
        return modules, [f"{path.name}:{err.lineno} is not valid Python ({err.msg})"]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        where = f"{path.name}:{node.lineno}"
        if node.level > 1:
            unusable.append(f"{where} imports from outside the folder ({'.' * node.level}{node.module or ''}), "
                            f"which the saved folder does not contain")
        elif node.module is None:
            names = ", ".join(alias.name for alias in node.names)
            unusable.append(f"{where} `from . import {names}`: transformers does not see this form and copies "
                            f"nothing for it; write `from .{node.names[0].name} import ...`")
        elif "." in node.module:
            unusable.append(f"{where} imports .{node.module}: transformers copies only modules at the top of "
                            f"the folder, not packages inside it")
        else:
            modules.add(node.module)
    return modules, unusable


def loaded_files(folder: Path) -> dict[str, str]:
    """The code files transformers loads from the folder, each with the config entry that names it."""
    entries = {}
    for config in sorted(folder.glob("*.json")):
        try:
            settings = json.loads(config.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(settings, dict):
            continue
        references = [(f"auto_map {key}", value) for key, value in (settings.get("auto_map") or {}).items()]
        references += [(f"custom_pipelines {task}", spec.get("impl"))
                       for task, spec in (settings.get("custom_pipelines") or {}).items() if isinstance(spec, dict)]
        for where, value in references:
            for reference in value if isinstance(value, (list, tuple)) else [value]:
                # "repo--module.Class" is code from another repository, loaded from there
                if isinstance(reference, str) and "--" not in reference and "." in reference:
                    entries.setdefault(reference.rsplit(".", 1)[0] + ".py", f"{config.name} {where}")
    return entries


def unloadable_code(folder) -> list[str]:
    """What keeps a saved folder's code from loading under the oldest copying rule; empty if nothing does.

    For each file a config names: the loader copies the file and the modules it imports itself (its regular
    expressions); everything the file reaches, by either the loader's view or Python's, must be among them."""
    folder = Path(folder)
    problems = []
    for entry, named_by in loaded_files(folder).items():
        if not (folder / entry).is_file():
            problems.append(f"{entry} (named by {named_by}) is not in {folder}")
            continue
        copied = {entry[:-3]} | loader_imports(folder / entry)
        # breadth first, so that each module's path below is a shortest chain of imports from the entry
        chains, queue = {entry[:-3]: [entry[:-3]]}, [entry[:-3]]
        while queue:
            module = queue.pop(0)
            path = folder / f"{module}.py"
            if not path.is_file():
                via = " -> ".join(f"{m}.py" for m in chains[module])
                problems.append(f"{entry} needs {module}.py ({via}), which is not in {folder}")
                continue
            needed, unusable = python_imports(path)
            problems += [f"{entry} reaches {problem}" for problem in unusable]
            for imported in sorted(needed | loader_imports(path)):
                if imported not in chains:
                    chains[imported] = chains[module] + [imported]
                    queue.append(imported)
        for module, chain in chains.items():
            if module not in copied and (folder / f"{module}.py").is_file():
                via = " -> ".join(f"{m}.py" for m in chain)
                problems.append(
                    f"{entry} (named by {named_by}) needs {module}.py ({via}) but does not import it itself: "
                    f"{OLDEST_RULE} copy only a loaded file and the modules it imports, so loading fails there "
                    f"with FileNotFoundError ({module}.py). Add `from .{module} import ...` to {entry}.")
    return problems
