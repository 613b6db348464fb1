"""What a user installs is what the tests check: the sdist and the wheel are built (offline, with
the ``build`` module and this environment's setuptools) from the files git knows, and must hold
every file under faltung/, above all the non-Python files the code opens at run time (the
studio's pages, scripts and styles). ``faltung --version`` and ``faltung.__version__`` come from
the package metadata. CI also installs the wheel into a fresh environment (.ci/smoke_wheel.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "faltung"

#: every module that finds files next to its own source, and the paths (relative to faltung/)
#: that it reads; a new such module must be added here, so that its files are checked too
READERS = {"studio/app.py": ["studio/static"],
           # locates the installed h5py and NumPy (for the probe's child), no file of faltung's
           "saving/h5probe.py": []}
#: how code finds files that ship inside the package
_LOCATES_DATA = re.compile(r"__file__|importlib\.resources|importlib_resources|pkgutil\.get_data"
                           r"|pkg_resources")


def _git_files() -> list[str]:
    """The repository's files as git knows them (tracked, or new and not ignored) that exist."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the files to package are not known")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return sorted(name for name in out.split("\0") if name and (ROOT / name).is_file())


def _package_files() -> list[str]:
    """Files under faltung/ that git knows, relative to the repository root."""
    return [name for name in _git_files() if name.startswith("faltung/")]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel (built from that sdist, as pip and ``python -m build`` do) of a
    copy of the files git knows: nothing in the checkout is written."""
    pytest.importorskip("build")
    work = tmp_path_factory.mktemp("packaging")
    for name in _git_files():
        target = work / "src" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-q", "--outdir",
                           str(work / "dist"), str(work / "src")], capture_output=True, text=True)
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout}\n{done.stderr}"
    (sdist,) = (work / "dist").glob("faltung-*.tar.gz")
    (wheel,) = (work / "dist").glob("faltung-*.whl")
    return sdist, wheel


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _sdist_names(sdist: Path) -> set[str]:
    """The sdist's members without its top folder (faltung-VERSION/)."""
    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_git_knows_the_studio_files() -> None:
    """The files the checks below rely on are there: the studio's pages, scripts and styles."""
    names = _package_files()
    for suffix in (".html", ".js", ".css"):
        assert any(n.startswith("faltung/studio/static/") and n.endswith(suffix) for n in names)


@pytest.mark.slow
def test_wheel_and_sdist_hold_every_package_file(dists: tuple[Path, Path]) -> None:
    sdist, wheel = dists
    expected = set(_package_files())
    data = {n for n in expected if not n.endswith(".py")}
    assert data, "no non-Python file under faltung/: the check would prove nothing"
    in_wheel, in_sdist = _wheel_names(wheel), _sdist_names(sdist)
    missing = sorted(expected - in_wheel)
    assert not missing, f"missing from the wheel: {missing} (declare them in " \
        "[tool.setuptools.package-data] of pyproject.toml)"
    missing = sorted(expected - in_sdist)
    assert not missing, f"missing from the sdist: {missing}"
    assert {"pyproject.toml", "README.md"} <= in_sdist


def test_every_module_that_reads_package_files_is_known() -> None:
    """A module that locates files next to its source (``__file__``, importlib.resources, ...)
    must be listed in READERS, so that the wheel check covers what it reads."""
    found = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                   if _LOCATES_DATA.search(path.read_text(encoding="utf8")))
    assert found == sorted(READERS)
    assert (PACKAGE / "studio" / "app.py").read_text(encoding="utf8").count(
        'Path(__file__).parent / "static"') == 1


@pytest.mark.slow
def test_wheel_holds_every_file_the_code_opens(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    in_wheel = _wheel_names(wheel)
    for paths in READERS.values():
        for relative in paths:
            source = PACKAGE / relative
            files = [source] if source.is_file() else sorted(
                p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            assert files, f"faltung/{relative} holds no file"
            for path in files:
                name = path.relative_to(ROOT).as_posix()
                assert name in in_wheel, f"{name} is read at run time but not in the wheel"
    # every file the studio's pages load from /static/ is in the wheel
    pages = sorted((PACKAGE / "studio" / "static").glob("*.html"))
    assert [p.stem for p in pages] == ["draw", "inspect", "runs"]
    for page in pages:
        assert f"faltung/studio/static/{page.name}" in in_wheel
        loaded = re.findall(r'(?:src|href)="/static/([^"]+)"', page.read_text(encoding="utf8"))
        assert {"studio.css", "common.js", f"{page.stem}.js"} <= set(loaded)
        for name in loaded:
            assert f"faltung/studio/static/{name}" in in_wheel, f"{page.name} loads {name}"


@pytest.mark.slow
def test_wheel_metadata(dists: tuple[Path, Path]) -> None:
    """The wheel's version is pyproject.toml's, and it installs the ``faltung`` command."""
    tomllib = pytest.importorskip("tomllib")
    _, wheel = dists
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert wheel.name == f"faltung-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"faltung-{version}.dist-info/METADATA").decode()
        entry_points = archive.read(f"faltung-{version}.dist-info/entry_points.txt").decode()
    assert f"\nVersion: {version}\n" in metadata
    assert re.search(r"^faltung = faltung\.cli:main$", entry_points, re.M)


def test_version_comes_from_the_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    import faltung
    from faltung.cli import main
    assert faltung.__version__ == version("faltung")
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"faltung {version('faltung')}\n"


def test_import_does_not_read_the_metadata() -> None:
    """``import faltung`` stays fast: importlib.metadata is loaded only for ``__version__``."""
    code = ("import sys; import faltung; a = 'importlib.metadata' in sys.modules; "
            "v = faltung.__version__; print(a, 'importlib.metadata' in sys.modules, v)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    from importlib.metadata import version
    assert out == ["False", "True", version("faltung")]
