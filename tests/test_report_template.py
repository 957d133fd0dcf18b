"""REPORT.md is rendered from a Jinja2 template: whatever the run, no template syntax, no constant's name
standing for a number and no cut sentence reaches it, its links resolve, and a value the template names
but the render lacks fails loudly instead of printing a blank."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import jinja2
import pytest

from xorbench.backends import LOSS_TARGET
from xorbench.bench import report
from xorbench.bench.compare import AGREE, rerun_of
from xorbench.bench.digest import summarise
from xorbench.bench.load import load
from xorbench.bench.stats import MIN_PROCESSES
from xorbench.bench.summary import THREADS_SLACK
from xorbench.bench.text import whole_clause

ROOT = Path(__file__).resolve().parent.parent
CONSTANT = re.compile(r"^\s*([A-Z][A-Z0-9_]{2,})\s*(?::[^=\n]*)?=", re.M)
# A clause that stops mid-way: a dangling word or comma before the end of a line, a cell or a clause.
CUT = re.compile(r"(?:[,;]|\b(?:with|and|or|of|the|a|an|by|to|for|in|on|at|from|where|which|that|as))[ ]*(?:[;.]|$)",
                 re.M)  # fmt: skip
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def constant_names() -> set[str]:
    """Every module and class constant of the code: what an unexpanded placeholder would be named."""
    found = set()
    for folder in ("backends", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(CONSTANT.findall(path.read_text(encoding="utf-8")))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def assert_whole(text: str, folder: Path) -> None:
    """No template syntax, placeholder or cut sentence in a rendered report, and every link resolves."""
    assert not re.search(r"\{\{|\}\}|\{%|%\}|\{#|#\}", text)
    prose = re.sub(r"## 6\. Environment.*?## 7\.", "", text, flags=re.S)  # env.json's values are data
    prose = re.sub(r"[\w/.-]+\.md\b", "", prose)  # file names: docs/METHODOLOGY.md
    words = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", prose))
    assert not words & constant_names(), words & constant_names()
    lines = text.splitlines()
    for line, after in zip(lines, [*lines[1:], ""]):
        if after.startswith("|---"):
            continue  # a table's header names columns ("series a", "at"): no sentence
        stripped = line.rstrip("|").rstrip()
        for piece in re.split(r"(?<!\\)\|", stripped) if line.startswith("|") else [stripped]:
            assert not CUT.search(piece.strip()), line
        assert not re.search(r" [.,;:](?:\s|$)", line), line  # a blank where a value was dropped
    for target in LINK.findall(text):
        path, _, anchor = target.partition("#")
        if path.startswith(("http://", "https://")):
            continue
        found = (folder / path).resolve()
        assert found.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", found.read_text(encoding="utf-8"), re.M)
            assert anchor in {slug(h) for h in headings}, target


def test_the_fixture_renders_with_no_placeholder_cut_sentence_or_broken_link(fixture_run, rendered):
    assert "docs/METHODOLOGY.md" in rendered and LINK.search(rendered)  # linked, from a checkout
    assert_whole(rendered, fixture_run)


def test_a_second_full_run_renders_whole_too(run_copy):
    shutil.copytree(run_copy, run_copy / "rerun")  # the same run twice: every row agrees
    text = report.write_report(run_copy, figures=False).read_text(encoding="utf-8")
    assert "## 10. Reproducibility: a second full run" in text and "- Target: met. A second full run" in text
    assert_whole(text, run_copy)


def test_the_committed_report_is_whole_and_rendered_from_the_committed_tables():
    """results/REPORT.md is what its tables render to now (linking the figures beside it, not redrawn):
    a report left stale after a change to the tables or the template fails here."""
    results = ROOT / "results"
    summary = summarise(load(results))
    figures = frozenset(p.name for p in results.iterdir() if p.suffix == ".png" and p.name in report.REPORT_FILES)
    text = report.render(summary, figures, rerun_of(results, summary.preset), results)
    assert "## 1. Verdict" in text
    assert_whole(text, results)
    assert text == (results / "REPORT.md").read_text(encoding="utf-8"), "xorbench report --out results is due"


@pytest.mark.parametrize(
    "said, whole",
    [
        ("Every epoch of a fit() in one compiled call: the same epoch, looped by lax.fori_loop, with",
         "Every epoch of a fit() in one compiled call: the same epoch, looped by lax.fori_loop"),
        ("WINDOW epochs per call of one torch.compile'd function: forward, backward and update, unrolled",
         "A fixed number of epochs per call of one torch.compile'd function: forward, backward and update, unrolled"),
        ("The whole training loop in one XLA-compiled tf.function.", "The whole training loop in one XLA-compiled "
         "tf.function"),
        ("JAX, used the usual way: parameters as a tuple of arrays", "JAX, used the usual way: parameters as a tuple "
         "of arrays"),
    ],
)  # fmt: skip
def test_a_backends_cut_or_placeholder_method_text_is_mended(said, whole):
    assert whole_clause(said) == whole


def test_a_value_the_template_names_but_the_render_lacks_fails_loudly(fixture_run):
    summary = summarise(load(fixture_run))
    template = report.templates().get_template("REPORT.md.j2")
    with pytest.raises(jinja2.UndefinedError):
        template.render(s=summary, drawn=frozenset(), rerun=None)  # no tables, no methods link


def test_the_methodology_states_the_codes_constants():
    text = (ROOT / "docs" / "METHODOLOGY.md").read_text(encoding="utf-8")
    assert f"at least {MIN_PROCESSES} processes" in text
    assert f"loss below {LOSS_TARGET:g}" in text
    assert f"more than {THREADS_SLACK:g}" in text
    assert f"within {100 * (AGREE - 1):.0f}% (max/min ≤ {AGREE:.2f}" in text


def test_every_template_ships_in_the_wheel():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = package_data["package-data"]["xorbench.bench"]
    templates = sorted(p.relative_to(ROOT / "bench") for p in (ROOT / "bench" / "templates").iterdir())
    assert templates and all(any(t.match(pattern) for pattern in patterns) for t in templates)


def test_a_ratio_below_1_reads_as_times_faster_with_its_interval_inverted():
    from xorbench.bench.stats import FASTER, SLOWER, Versus
    from xorbench.bench.text import times_text

    assert times_text(Versus(0.0001, 0.00008, 0.000125, FASTER, 3, 3)) == "10,000× faster (8,000–12,500)"
    assert times_text(Versus(1.17, 0.91, 1.25, SLOWER, 3, 3)) == "1.17× slower (0.910–1.25)"
