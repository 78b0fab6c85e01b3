"""Every file a doc, docstring, comment or config cites is in the repository.

A citation is a path under one of the repository's folders (``docs/model.md``,
``configs/thesis_cpu.yaml``, ``benchmarks/README.md``, ``examples/quickstart.py``, ...), any
``*.md`` file name, or a relative Markdown link ``[text](target)``. It resolves if it exists
relative to the repository root or to the citing file's folder. Paths a program writes
(under ``runs/``, ``DIR/``, ``OUT/``, or with a placeholder such as ``*`` or ``{``) are not
citations, nor are the names of Markdown files the code writes (a literal joined to a path,
``out / "report.md"``, found in the sources themselves).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("docs", "configs", "benchmarks", "examples", "tests", "lucas_abm", "orchestrator",
           "replay", "docker")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".cff", ".cfg", ".txt"}
NAMES = {"Makefile", "Dockerfile", "Dockerfile.gpu", ".dockerignore", "run"}
SKIP_DIRS = {".git", ".venv", "runs", "build", "dist", "__pycache__", ".pytest_cache",
             ".hypothesis"}
PATH = re.compile(r"(?<![\w./-])((?:\.\./|\./)*(?:%s)/[\w./*{}<>-]*)" % "|".join(FOLDERS))
MD_NAME = re.compile(r"(?<![\w/.{}-])([\w.-]+\.md)\b")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
#: ``path / "name.md"`` or ``path / f"{...}name.md"`` in Python: a file the code writes.
WRITTEN = re.compile(r"/\s*f?[\"']([^\"']*\.md)[\"']")


def repo_files() -> list[Path]:
    """The files git tracks or would track (untracked but not ignored), else a directory walk."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
                                capture_output=True, text=True, check=True, timeout=30).stdout
        files = [ROOT / line for line in listed.splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        files = [p for p in ROOT.rglob("*") if p.is_file()]
    return sorted(p for p in files if p.is_file()
                  and not SKIP_DIRS & set(p.relative_to(ROOT).parts)
                  and (p.suffix in SUFFIXES or p.name in NAMES))


def citations(text: str, markdown: bool) -> set[str]:
    found = {m.rstrip(".") for m in PATH.findall(text)}
    found |= set(MD_NAME.findall(text))
    if markdown:
        for target in MD_LINK.findall(text):
            target = target.split("#", 1)[0]
            if target and not re.match(r"[a-z]+:", target):   # http:, https:, mailto:
                found.add(target)
    return found


def written_names(files: list[Path]) -> set[str]:
    """Names (or name endings, after an f-string field) of the Markdown files the code writes."""
    names = set()
    for source in files:
        if source.suffix == ".py":
            for literal in WRITTEN.findall(source.read_text(encoding="utf-8", errors="replace")):
                name = literal.rsplit("}", 1)[-1]
                if name != ".md":          # f"{name}.md" says nothing about the name
                    names.add(name)
    return names


def is_output(path: str, written: set[str]) -> bool:
    return (any(mark in path for mark in "*{}<>$") or path.startswith(("runs/", "/"))
            or ("/" not in path and any(path.endswith(name) for name in written)))


def resolves(cited: str, source: Path) -> bool:
    return any((base / cited).exists() for base in (ROOT, source.parent))


def missing_citations() -> list[str]:
    missing = []
    files = repo_files()
    written = written_names(files)
    for source in files:
        if source == Path(__file__).resolve():
            continue
        try:
            text = source.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for cited in sorted(citations(text, source.suffix == ".md")):
            if not is_output(cited, written) and not resolves(cited, source):
                missing.append(f"{source.relative_to(ROOT)}: {cited}")
    return missing


def test_every_cited_file_exists():
    missing = missing_citations()
    assert not missing, "cited but not in the repository:\n  " + "\n  ".join(missing)


def test_the_model_is_documented_and_cited_by_its_path():
    model = ROOT / "docs" / "model.md"
    text = model.read_text()
    for needle in ("q* = beta", "the higher poster buys", "truncation, not a termination",
                   "Invariants", "0.851521", "## 4. Extensions"):
        assert needle.lower() in text.lower().replace("\\*", "*"), needle
    bare = []
    for source in repo_files():
        if (source.suffix == ".md" and source.parent == ROOT / "docs") or source == Path(__file__).resolve():
            continue   # docs/ cites its sibling as model.md, which resolves
        for line_no, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"(?<![\w/])model\.md", line):
                bare.append(f"{source.relative_to(ROOT)}:{line_no}")
    assert not bare, "cite docs/model.md, not a bare model.md: " + ", ".join(bare)


#: ``docs/x.md, "Section"``, ``docs/x.md ("Section"``, ``[x.md](x.md), "Section"``: a section cited by name.
SECTION = re.compile(r'([\w/.-]+\.md)(?:`|\))?(?:,|\s)\s*\(?"([^"]{3,160})"')


def section_names(path: Path) -> list[str]:
    """The headings of a Markdown file and its bold paragraph labels (``**Episodes.**``)."""
    text = path.read_text(encoding="utf-8")
    names = re.findall(r"^#+\s+(.*)$", text, re.M) + re.findall(r"\*\*([^*\n]{3,120}?)\.?\*\*", text)
    return [re.sub(r"\s+", " ", name.replace("`", "")).strip() for name in names]


def test_every_cited_section_exists():
    """A section cited by name (``docs/heterogeneity.md, "Adaptive valuers"``, also across a
    line break or a comment's ``#``) begins a heading or a bold label of the file cited, so
    moving a section to another file fails here until its citations follow it."""
    missing = []
    for source in repo_files():
        if source == Path(__file__).resolve():
            continue
        text = source.read_text(encoding="utf-8", errors="replace")
        flat = re.sub(r"[ \t]*\n[ \t]*(?:#+[ \t]*)?", " ", text)
        for name, title in SECTION.findall(flat):
            target = next((base / name for base in (ROOT, source.parent, ROOT / "docs")
                           if (base / name).is_file()), None)
            title = re.sub(r"\s+", " ", title.replace("`", "")).strip()
            if target is not None and not any(s.startswith(title) for s in section_names(target)):
                missing.append(f"{source.relative_to(ROOT)}: {name}, \"{title}\"")
    assert not missing, "sections cited but not in the file cited:\n" + "\n".join(missing)


def test_nothing_cites_outside_the_repository():
    # CI's own script (.ci/) may start the CI machine's Docker engine from ../shared; nothing a
    # user gets (docs, code, configs, docker/) may depend on it.
    outside = [f"{s.relative_to(ROOT)}" for s in repo_files() if s != Path(__file__).resolve()
               and s.parent != ROOT / ".ci"
               and "../shared" in s.read_text(encoding="utf-8", errors="replace")]
    assert not outside, outside


@pytest.mark.parametrize("text, markdown, expected", [
    ("see docs/model.md §2 and configs/thesis.yaml.", False, {"docs/model.md", "configs/thesis.yaml"}),
    ("[market](market.md#invariants) and [web](https://x.org/a.md)", True, {"market.md"}),
    ("writes runs/sim/report.md", False, set()),
    ("lots of configs/thesis*.yaml", False, {"configs/thesis*.yaml"}),
])
def test_citation_finder(text, markdown, expected):
    assert citations(text, markdown) >= expected
    assert is_output("configs/thesis*.yaml", set()) and is_output("table.md", {"table.md"})
    assert not is_output("docs/table.md", {"table.md"})
    assert not resolves("docs/no-such-page.md", ROOT / "README.md")
