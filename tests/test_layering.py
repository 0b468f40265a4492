"""The package stands below everything that uses it: no module of modeling_emotion_whisper reaches up into the
scripts (data_scripts, train.py, benchmarks), and no two of its modules import each other, even inside a function
(issue 28.4). Read from the source, so a lazy import that only runs on some path is caught too."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "modeling_emotion_whisper"
ABOVE = {"data_scripts", "train", "evaluate_model", "finetune_hume", "benchmarks", "tests"}


def imports(path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(package modules, modules above the package) that `path` imports anywhere in its body."""
    inside, above = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            inside.update(name if name in modules else "__init__" for name in names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top, *rest = node.module.split(".")
            if top == PACKAGE.name:
                inside.add(rest[0] if rest else "__init__")
            above.update({top} & ABOVE)
        elif isinstance(node, ast.Import):
            above.update({a.name.split(".")[0] for a in node.names} & ABOVE)
    return inside, above


def test_package_imports_nothing_above_it_and_no_module_cycle():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for name in sorted(modules):
        inside, above = imports(PACKAGE / f"{name}.py", modules)
        assert not above, f"modeling_emotion_whisper/{name}.py imports {sorted(above)}, which sit above the package"
        graph[name] = inside - {name}

    state = {}  # depth-first search: 1 on the current path, 2 done

    def visit(name, path):
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path + [name, dep])
            if dep not in state:
                visit(dep, path + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_the_check_sees_a_lazy_cycle(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n")
    (tmp_path / "b.py").write_text("from .a import f\nimport data_scripts.build\n")
    assert imports(tmp_path / "a.py", {"a", "b"}) == ({"b"}, set())
    assert imports(tmp_path / "b.py", {"a", "b"}) == ({"a"}, {"data_scripts"})
