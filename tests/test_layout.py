"""The package layout the design fixes (DESIGN.md, "Layers of the system" and "Layout"):
checked on the source, so that a move that breaks it fails here."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[1]
# Top-level kerasrrn modules that are not commands.
NOT_COMMANDS = {"__init__", "__main__", "choices", "config"}


def python_files(package):
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(path):
    """(module name, imported names, line) of every import in `path`, wherever it stands."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, [alias.name for alias in node.names], node.lineno


def command_modules():
    return {path.stem for path in (ROOT / "kerasrrn").glob("*.py")} - NOT_COMMANDS


def test_every_top_level_kerasrrn_module_is_a_command():
    for name in command_modules():
        source = (ROOT / "kerasrrn" / f"{name}.py").read_text()
        assert "def main(" in source and 'if __name__ == "__main__":' in source, name


@pytest.mark.parametrize("package", ["pipelines"])
def test_pipelines_imports_nothing_from_kerasrrn(package):
    for path in python_files(package):
        for module, _, line in imported_modules(path):
            assert module.split(".")[0] not in ("kerasrrn", "tuning"), f"{path}:{line} imports {module}"


def test_tuning_imports_no_command_module():
    commands = {f"kerasrrn.{name}" for name in command_modules()}
    for path in python_files("tuning"):
        for module, names, line in imported_modules(path):
            imported = {module} | {f"{module}.{name}" for name in names}
            assert not imported & commands, f"{path}:{line} imports a command: {sorted(imported & commands)}"


def test_no_module_imports_another_modules_private_name():
    for package in ("kerasrrn", "pipelines", "tuning"):
        for path in python_files(package):
            for module, names, line in imported_modules(path):
                private = [name for name in names if name.startswith("_")]
                assert not private, f"{path}:{line} imports {private} from {module}"


def late_imports(path):
    """Lines of the imports inside a command's `main`: of its work, after its arguments parse."""
    tree = ast.parse(path.read_text())
    mains = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    return {node.lineno for main in mains for node in ast.walk(main)
            if isinstance(node, ast.ImportFrom) and node.module in ("kerasrrn.commands", "tuning")}


def test_project_imports_sit_at_the_top_of_their_module():
    """Except a command's work, which its `main` imports once the arguments parse."""
    commands = [ROOT / "kerasrrn" / f"{name}.py" for name in command_modules()] + [ROOT / "tuning" / "search.py"]
    for package in ("kerasrrn", "pipelines", "tuning"):
        for path in python_files(package):
            top_level = {node.lineno for node in ast.parse(path.read_text()).body
                         if isinstance(node, (ast.Import, ast.ImportFrom))}
            allowed = top_level | (late_imports(path) if path in commands else set())
            for module, _, line in imported_modules(path):
                if module.split(".")[0] in ("kerasrrn", "pipelines", "tuning"):
                    assert line in allowed, f"{path}:{line} imports {module} inside a function"
