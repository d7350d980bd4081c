"""The docs agree with the project: every chapter, section, cross-reference and file a page
names exists (README, CONTRIBUTING, the book's pages, the chapters' prose, the benchmarks'
README, the profiles' and tolerances' comments)."""

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "benchmarks" / "README.md",
                *(ROOT / "book").glob("*.md"), *(ROOT / "params").glob("*.yml"),
                ROOT / "notebooks" / "tolerances.yml"])
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
STEMS = {p.stem for p in CHAPTERS}

LABEL = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)
REF = re.compile(r"\{ref\}`(?:[^`<]*<)?([\w-]+)>?`")
DOC = re.compile(r"\{doc\}`([^`]+)`")
# a tracked file or folder named in backticks (not a pattern such as params/*.yml or <run>)
FILE = re.compile(r"`((?:src|notebooks|benchmarks|params|tests|book|data/calibration)/[^`\s*<>]*)`")
CHAPTER = re.compile(r"\b(0[1-9]_[a-z][a-z0-9_]*[a-z0-9])\b")
SECTION = re.compile(r"(?<![\w/])(README|CONTRIBUTING|benchmarks/README)(?:\.md)?`?, \"([^\"]+)\"")


def text_of(path: Path) -> str:
    if path.suffix == ".py":  # a chapter: its Markdown cells
        return "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")
    return path.read_text()


def labels() -> set[str]:
    found = set()
    for path in [*(ROOT / "book").glob("*.md"), *CHAPTERS]:
        found |= set(LABEL.findall(text_of(path)))
    return found


def headers(name: str) -> set[str]:
    path = ROOT / f"{name}.md"
    return {h.strip().lower() for h in re.findall(r"^#+\s+(.+)$", path.read_text(), re.M)}


def dangling(path: Path, known_labels: set[str]) -> list[str]:
    text = text_of(path)
    where = path.relative_to(ROOT)
    out = [f"{where}: {{ref}} to a label no page defines: {label}"
           for label in REF.findall(text) if label not in known_labels]
    for target in DOC.findall(text):
        base = (path.parent / target).resolve()
        if not any(base.with_suffix(s).exists() for s in (".md", ".ipynb")):
            out.append(f"{where}: {{doc}} to a page that does not exist: {target}")
    out += [f"{where}: names a file that does not exist: {name}" for name in FILE.findall(text)
            if "NN" not in name and not (ROOT / name.rstrip(".,:;")).exists()]
    out += [f"{where}: names a chapter that does not exist: {stem}"
            for stem in CHAPTER.findall(text) if stem not in STEMS]
    out += [f"{where}: points to a section {name} does not have: {section!r}"
            for name, section in SECTION.findall(text) if section.lower() not in headers(name)]
    return out


@pytest.mark.parametrize("path", [*PAGES, *CHAPTERS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_of_a_page_exists(path):
    assert dangling(path, labels()) == []


def test_the_check_finds_each_kind_of_dangling_reference(tmp_path):
    page = ROOT / "book" / "_dangling_check.md"  # inside the book, so {doc} resolves as there
    page.write_text("{ref}`no-such-label`, {doc}`no-such-page`, `src/helpers/no_such.py`, "
                    "`07_no_such_chapter`, README, \"No such section\". "
                    "{ref}`chapter-labels`, `src/helpers/cli.py`, `01_labels` are fine.\n")
    try:
        found = dangling(page, labels())
    finally:
        page.unlink()
    assert [line.split(": ", 1)[1].split(":")[0] for line in found] == [
        "{ref} to a label no page defines", "{doc} to a page that does not exist",
        "names a file that does not exist", "names a chapter that does not exist",
        "points to a section README does not have"]


def test_the_book_lists_every_chapter():
    toc = (ROOT / "_toc.yml").read_text()
    assert [s for s in STEMS if f"notebooks/{s}.ipynb" not in toc] == []
    intro = text_of(ROOT / "book" / "intro.md")
    chapter_labels = {LABEL.search(text_of(p)).group(1) for p in CHAPTERS}
    assert sorted(chapter_labels - set(REF.findall(intro))) == []
