"""The project's own files agree with each other: environment.yml vs pyproject, profiles vs
notebook parameters, paired notebooks, the Makefile's documented targets."""

import re
import subprocess
import sys
import tomllib

import jupytext
import nbformat
import pytest
import yaml

from helpers import chapters, paths, profiles


def _name(requirement: str) -> str:
    return re.match(r"^\s*([A-Za-z0-9_.\-]+)", requirement).group(1).lower().replace("_", "-")


def test_environment_yml_installs_the_pinned_reference_environment():
    """conda brings Python and pip; pip installs the project with constraints.txt, so a conda
    environment gets the versions the committed outputs were made with."""
    project = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert conda == [f"python{project['requires-python']}", "pip"]
    assert pip == ["-c constraints.txt", "-e .[dev]"]
    pinned = {_name(line): line for line in (paths.ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    wanted = [_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    unpinned = [name for name in wanted if name not in pinned or "==" not in pinned[name]]
    assert not unpinned, f"not pinned in constraints.txt (run make lock): {unpinned}"


def test_demo_profile_equals_the_notebook_defaults():
    """The committed notebooks are the demo run only if the demo profile is their defaults."""
    profile = profiles.load_profile("params/demo.yml")
    for source in profiles.chapter_sources():
        declared = profiles.declared_parameters(profiles.read_chapter(source))
        params = profiles.chapter_parameters(profile, source.stem, declared)
        for key, value in params.items():
            assert profiles.default_value(declared[key]) == value, f"{source.name}: {key}"


@pytest.mark.parametrize("profile", sorted(paths.PARAMS.glob("*.yml")), ids=lambda p: p.name)
def test_profiles_name_only_known_parameters(profile):
    loaded = profiles.load_profile(profile)
    declared = {s.stem: profiles.declared_parameters(profiles.read_chapter(s)) for s in profiles.chapter_sources()}
    profiles.check_profile_keys(loaded, declared)


@pytest.mark.parametrize("source", profiles.chapter_sources(), ids=lambda p: p.name)
def test_paired_notebook_matches_its_source(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{source.name} has no paired {ipynb.name}: run `make refresh`"
    text = jupytext.read(source)
    committed = nbformat.read(ipynb, as_version=4)
    assert [(c.cell_type, c.source) for c in text.cells] == [(c.cell_type, c.source) for c in committed.cells]
    # reference outputs: executed, no papermill leftovers, no error outputs
    assert "papermill" not in committed.metadata
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "run `make refresh`: unexecuted cells"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in committed.cells)


def test_jupytext_diff_reports_no_drift():
    for source in profiles.chapter_sources():
        out = subprocess.run(
            [sys.executable, "-m", "jupytext", "--diff", "--diff-format", "py:percent",
             str(source.with_suffix(".ipynb")), str(source)],
            capture_output=True, text=True, check=True,
        ).stdout
        drift = [line for line in out.splitlines() if re.match(r"^[+-][^+-]", line)]
        assert not drift, f"{source.name}: {drift[:5]}"


def test_make_help_lists_the_readme_commands():
    out = subprocess.run(["make", "-s", "help"], cwd=paths.ROOT, capture_output=True, text=True,
                         check=True).stdout
    for target in ("book", "test", "refresh", "setup", "bench"):
        assert f"make {target}" in out
    readme = (paths.ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


def test_nbval_replay_fails_when_an_output_changes(tmp_path):
    """The replay is a real check: a committed number that the run does not reproduce fails it."""
    nb = nbformat.read(paths.NOTEBOOKS / "01_labels.ipynb", as_version=4)
    stream = next(o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "stream" and "galaxies" in o.text)
    stream.text = stream.text.replace("galaxies", "galaxies (tampered)", 1)
    target = tmp_path / "tampered.ipynb"
    nbformat.write(nb, target)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(paths.NOTEBOOKS / "sanitize.cfg"), str(target)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "tampered" in proc.stdout


@pytest.mark.parametrize("profile", sorted(p.name for p in (paths.ROOT / "params").glob("*.yml")))
def test_every_shipped_profile_names_only_declared_parameters(profile):
    from helpers import profiles

    loaded = profiles.load_profile(paths.ROOT / "params" / profile)
    declared = {s.stem: profiles.declared_parameters(profiles.read_chapter(s)) for s in profiles.chapter_sources()}
    profiles.check_profile_keys(loaded, declared)  # raises ParameterError naming a stray key
    assert set(loaded.chapters) <= set(declared)


# A user's clone has nothing beside it: no tracked file may point at a path outside the
# repository. Each allowed exception says why it is not a path the project reads.
UP = "." + "./"  # written in two parts, so that this file's own examples are not paths
NOT_READ = {("tests/test_runner.py", UP + "up"): "a profile's run name the runner must refuse"}
UP_PATH = re.compile(r"(?<![\w.])((?:\.\./)+[\w.\-]*(?:/[\w.\-]+)*)")
ANCHOR = re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[(\d+)\]")
OUTSIDE = re.compile(r"\bROOT\.parent\b|\bROOT\s*/\s*[\"']\.\.|(?<![\w.])/w[o]rk/")


def _tracked_text_files():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=paths.ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        path = paths.ROOT / name
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".gif"} or not path.is_file():
            continue
        yield name, path.read_text(errors="replace")


def outside_references(name: str, text: str, root=paths.ROOT) -> list[str]:
    """The paths in one tracked file that lead outside ``root``, as ``file:line: path``."""
    found = []
    folder = (root / name).parent
    for number, line in enumerate(text.splitlines(), 1):
        for match in UP_PATH.finditer(line):
            target = (folder / match.group(1)).resolve()
            exists = any(p.exists() for p in (target, target.with_suffix(".md")))
            inside = target == root or root in target.parents
            if (not inside or not exists) and (name, match.group(1)) not in NOT_READ:
                found.append(f"{name}:{number}: {match.group(1)}")
        for match in ANCHOR.finditer(line):
            anchored = (root / name).resolve().parents[int(match.group(1))]
            if anchored != root and root not in anchored.parents:
                found.append(f"{name}:{number}: parents[{match.group(1)}] is {anchored}")
        found += [f"{name}:{number}: {m.group(0)}" for m in OUTSIDE.finditer(line)]
    return found


def test_the_reach_check_finds_paths_outside_the_root():
    """The check below is a real one: it finds what the old realism test did."""
    old = 'TOOL = paths.ROOT' + '.parent / "elsewhere" / "tool.py"\n'  # the old test's shape
    assert outside_references("tests/test_realism.py", old)
    assert outside_references("book/x.md", f"see `{UP}{UP}elsewhere/README.md`")
    assert outside_references("data/calibration/README.md", f"from `{UP}elsewhere/x.csv`")
    assert outside_references("README.md", "python /w" + "ork/elsewhere/tool.py")
    assert outside_references("tests/test_x.py", "ROOT = Path(__file__).resolve()" + ".parents[3]")
    assert not outside_references("book/x.md", f"{{glue:text}}`{UP}notebooks/06_compare.ipynb::x:s`")
    assert not outside_references("tests/test_x.py", "ROOT = Path(__file__).resolve().parents[1]")


def test_no_tracked_file_reaches_outside_the_repository():
    """Every relative path in every tracked file stays inside the clone and names something
    there; nothing anchors on a folder above the root or on a developer's machine."""
    found = [hit for name, text in _tracked_text_files() for hit in outside_references(name, text)]
    assert not found, "\n".join(found)


# The chapters read as the study (issue 22): what the reader meets first is prose, the imports
# and the run's parameters are folded away, cells are short and sit beside prose, no cell
# defines a function or parses a name, and the replay's bookkeeping is kept from the reader.
PARSING = re.compile(r"\.(split|rsplit|partition|removeprefix|removesuffix)\(|\bre\.")
MAX_LINES = 12


@pytest.mark.parametrize("source", profiles.chapter_sources(), ids=lambda p: p.name)
def test_chapters_read_as_the_study(source):
    cells = jupytext.read(source).cells
    assert cells[0].cell_type == "markdown" and re.search(r"^# \S", cells[0].source, re.M), \
        f"{source.name}: a chapter opens with its title and a sentence, before any code"
    code = [(i, c) for i, c in enumerate(cells) if c.cell_type == "code"]
    tags = {i: set(c.metadata.get("tags", [])) for i, c in code}
    first, second = code[0][0], code[1][0]
    assert "hide-input" in tags[first] and "import" in cells[first].source, f"{source.name}: imports fold away"
    assert {"parameters", "hide-input"} <= tags[second], f"{source.name}: the parameters fold away"
    assert cells[second].source.startswith(chapters.PARAMETERS_LABEL), \
        f"{source.name}: the parameters cell is labelled as this run's values"
    for i, cell in code:
        lines = cell.source.splitlines()
        where = f"{source.name}, cell {i}: {lines[0][:50] if lines else ''}"
        assert "parameters" in tags[i] or len(lines) <= MAX_LINES, f"{where}: {len(lines)} lines"
        assert not re.search(r"^\s*(def|class|async def) ", cell.source, re.M), f"{where}: defines a function"
        assert "lambda" not in cell.source, f"{where}: defines a function (lambda)"
        assert not PARSING.search(cell.source), f"{where}: parses a string"
        assert "NBVAL" not in cell.source, f"{where}: nbval markers are cell tags, not comments"
        beside = [cells[j].cell_type for j in (i - 1, i + 1) if 0 <= j < len(cells)]
        assert "markdown" in beside, f"{where}: every code cell sits beside prose"
        if "close_chapter" in cell.source:
            assert "remove-cell" in tags[i], f"{where}: the replay's report is kept from the reader"
            assert len(lines) <= 4, f"{where}: a chapter closes in a few lines"
