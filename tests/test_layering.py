"""Library code never imports the rule scripts: `scripts/` sits on top of the packages.

A package that imports `scripts` works only from the repository root and drags a rule
script's module into library code; what both need lives in the packages
(`corpora.jsonl`, `corpora.provenance`).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_LIBRARY = {"scripts", "tests", "rehearsal"}  # rehearsal: the driver of make rehearsal, which runs scripts/prefetch.py


def library_packages(root: Path = ROOT) -> list[Path]:
    """Every top-level package of the repository (a folder with ``__init__.py``) but the
    rule scripts and the tests."""
    return sorted(folder for folder in root.iterdir()
                  if (folder / "__init__.py").is_file() and folder.name not in NOT_LIBRARY)


def imports_of_scripts(file: Path) -> list[str]:
    """``line: statement`` for each import of ``scripts`` (or a module in it) in ``file``,
    at any depth (imports inside functions count)."""
    found = []
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "scripts" or name.startswith("scripts.") for name in names):
            found.append(f"{file.relative_to(file.parents[1])}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_library_packages_do_not_import_scripts():
    packages = library_packages()
    assert {"corpora", "evaluation", "methods", "modeling", "nado"} <= {package.name for package in packages}
    offending = [hit for package in packages for file in sorted(package.rglob("*.py")) for hit in imports_of_scripts(file)]
    assert offending == [], "library code imports the rule scripts; move what it needs into a package:\n" + "\n".join(offending)


def test_the_scan_sees_imports_inside_functions(tmp_path):
    package = tmp_path / "lib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "io.py").write_text("def f():\n    from scripts._common import read_jsonl\n    import scripts.train\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "__init__.py").write_text("")
    assert [p.name for p in library_packages(tmp_path)] == ["lib"]
    assert imports_of_scripts(package / "io.py") == [
        "lib/io.py:2: from scripts._common import read_jsonl", "lib/io.py:3: import scripts.train"]
