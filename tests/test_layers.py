"""The import rules of docs/architecture.md: two self-contained cores, the application around them."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORES = {
    "selection": {"numpy", "sklearn", "skimage"},
    "propagation": {"numpy", "torch", "segmentation_models_pytorch", "cv2"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every absolute import in one file (relative imports stay inside the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_core_imports_only_its_own_libraries(core):
    allowed = CORES[core] | set(sys.stdlib_module_names)
    files = sorted((REPO / core).rglob("*.py"))
    assert files
    for path in files:
        outside = imported_packages(path) - allowed
        assert not outside, f"{path.relative_to(REPO)} imports {sorted(outside)}; {core} may import only " \
            f"{sorted(CORES[core])}"


def test_the_web_face_starts_without_torch_or_the_training_stack():
    """gunicorn processes answer /predict from the store: loading torch there costs seconds and memory."""
    code = ("import sys, _wsgi; heavy = {'torch', 'sklearn', 'cv2', 'vidseg.engine'} & set(sys.modules); "
            "assert not heavy, heavy; "
            # Each process validates its settings (UPSAMPLING's names load OpenCV, 17 MB; torch would be 300).
            "from vidseg.settings import Settings; Settings.from_env({}); "
            "heavy = {'torch', 'sklearn', 'vidseg.engine'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
