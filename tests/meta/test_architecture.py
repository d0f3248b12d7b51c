"""The layout of docs/architecture.md holds: few top-level modules, a docstring per package,
re-exports only in ``__init__.py``, the import contracts, plugins through one front door, and
old import paths that still work (with a deprecation warning).

(rewrite-imports: skip-file: the old paths below are meant.)
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from gan_adapt import _compat
from gan_adapt.cli.scaffold import create

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gan_adapt"

#: What gan_adapt/ itself may hold besides its subpackages.
TOP_LEVEL = {"__init__.py", "__main__.py", "errors.py", "testing.py", "_compat.py", "_version.py"}


def test_only_a_handful_of_top_level_modules():
    assert {p.name for p in PACKAGE.glob("*.py")} <= TOP_LEVEL


def _packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py") if "assets" not in p.parts)


def test_every_package_says_what_it_holds_in_its_first_line():
    for folder in _packages():
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert doc and len(doc.splitlines()[0]) > 20, f"{folder}: no one-line docstring"


def _is_re_export(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, ast.Expr):  # the docstring, or the root's one call installing _compat
        return isinstance(node.value, ast.Constant) or ast.unparse(node) == "_compat.install()"
    if isinstance(node, (ast.Assign, ast.AnnAssign)):  # __all__, the lazy tables, __version__
        value = node.value
        return isinstance(value, (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.Call)) and \
            all(isinstance(n, (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.Name, ast.Starred,
                               ast.Load, ast.Call, ast.Attribute))
                for n in ast.walk(value))
    if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports
        return ast.unparse(node.test) == "TYPE_CHECKING" and all(map(_is_re_export, node.body))
    if isinstance(node, ast.FunctionDef):  # the lazy re-export hooks, nothing else
        return node.name in ("__getattr__", "__dir__")
    return False


def test_no_real_logic_in_any_init():
    for folder in _packages():
        tree = ast.parse((folder / "__init__.py").read_text())
        offending = [ast.unparse(n).splitlines()[0] for n in tree.body if not _is_re_export(n)]
        assert not offending, f"{folder}/__init__.py holds logic: {offending}"


@pytest.mark.skipif(shutil.which("lint-imports") is None and
                    not (Path(sys.executable).parent / "lint-imports").exists(),
                    reason="import-linter is not installed (pip install -e '.[dev]')")
def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.skipif(shutil.which("ruff") is None and
                    not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is not installed (pip install -e '.[dev]')")
def test_ruff_passes_on_the_whole_repository():
    """pyproject's [tool.ruff] rules (E, F, W, I, B, UP; 100 columns) hold everywhere."""
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([exe, "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


# ---------------------------------------------------------------------------------------------
# One front door for plugin authors


def _gan_adapt_imports(folder: Path) -> set[str]:
    """Every gan_adapt module that the Python files under ``folder`` import (at any depth)."""
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found |= {f"{path.relative_to(folder)}: {n}" for n in names
                      if n == "gan_adapt" or n.startswith("gan_adapt.")}
    return found


def _outside_front_door(folder: Path) -> set[str]:
    return {i for i in _gan_adapt_imports(folder) if not i.endswith(": gan_adapt.plugin")}


@pytest.mark.parametrize("folder", sorted(p for p in (ROOT / "plugins").iterdir() if p.is_dir())
                         + [ROOT / "docs" / "examples" / "gan-adapt-example"],
                         ids=lambda p: p.name)
def test_plugins_import_gan_adapt_only_through_its_front_door(folder):
    assert _gan_adapt_imports(folder), "the check must see the plugin's imports"
    assert _outside_front_door(folder) == set()


def test_the_scaffolds_plugin_imports_only_the_front_door(tmp_path):
    folder = create("door-check", tmp_path)
    assert any(i.endswith(": gan_adapt.plugin") for i in _gan_adapt_imports(folder))
    assert _outside_front_door(folder) == set()


def test_the_front_door_exports_what_a_plugin_needs():
    import gan_adapt.plugin as door
    from gan_adapt import errors, testing
    from gan_adapt.plugin_host import context, registry

    assert door.hookimpl is importlib.import_module("gan_adapt").hookimpl
    assert door.lazy is registry.lazy
    assert (door.Step, door.BuildContext, door.TargetData) == \
        (context.Step, context.BuildContext, context.TargetData)
    error_classes = {n for n, v in vars(errors).items()
                     if isinstance(v, type) and issubclass(v, Exception)
                     and v.__module__ == errors.__name__}
    assert error_classes <= set(door.__all__)
    assert set(testing.__all__) <= set(door.__all__)
    for name in door.__all__:
        assert getattr(door, name) is not None


def test_importing_the_front_door_for_registration_stays_cheap():
    code = ("import sys; from gan_adapt.plugin import hookimpl, lazy; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


# ---------------------------------------------------------------------------------------------
# Old import paths


@pytest.mark.parametrize("old", sorted(_compat.MOVED))
def test_an_old_module_path_imports_warns_and_is_the_new_module(old, monkeypatch):
    new = importlib.import_module(_compat.MOVED[old])
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=_compat.MOVED[old].replace(".", r"\.")):
        module = importlib.import_module(old)
    assert module is new
    sys.modules.pop(old, None)


def test_old_from_imports_give_the_same_objects():
    for old in ("gan_adapt.registry", "gan_adapt.engine.context", "gan_adapt.hookspecs",
                "gan_adapt.plugins", "gan_adapt.files", "gan_adapt.images"):
        sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from gan_adapt.engine.context import BuildContext, Step
        from gan_adapt.hookspecs import register_losses  # noqa: F401
        from gan_adapt.plugins import load_plugins
        from gan_adapt.registry import lazy
    assert sum(issubclass(w.category, DeprecationWarning) for w in caught) >= 4
    import gan_adapt.plugin as door

    assert (Step, BuildContext, lazy, load_plugins) == \
        (door.Step, door.BuildContext, door.lazy, door.load_plugins)
    # the public names that did not move stay importable without any warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from gan_adapt import hookimpl  # noqa: F401
        from gan_adapt.errors import GanAdaptError  # noqa: F401
        from gan_adapt.testing import check_term  # noqa: F401


# ---------------------------------------------------------------------------------------------
# docs/architecture.md matches the tree


def _documented_tree() -> dict[str, set[str]]:
    """Package -> the words of its entry in the tree of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```\ngan_adapt/\n", 1)[1].split("```", 1)[0]
    entries: dict[str, set[str]] = {}
    current = None
    for line in block.splitlines():
        head = line[2:].split(" ", 1)[0] if line.startswith("  ") and line[2] != " " else ""
        if head.endswith("/"):
            current = head.rstrip("/")
            entries[current] = set()
            line = line[2 + len(head):]
        if current is not None:
            entries[current] |= set(re.findall(r"\w+", line))
    return entries


def test_the_architecture_page_lists_every_package_and_module():
    documented = _documented_tree()
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(documented) - {"assets"} == packages
    for name in packages:
        modules = {p.stem for p in (PACKAGE / name).glob("*.py")} - {"__init__", "__main__"}
        assert modules <= documented[name], f"{name}/: {modules - documented[name]} not documented"


def test_the_architecture_page_names_the_layers_of_the_contract():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    page = (ROOT / "docs" / "architecture.md").read_text()
    for layer in layers:
        for package in re.split(r"\s*\|\s*", layer):
            assert f"`{package}`" in page, f"{package} is in the contract but not on the page"
