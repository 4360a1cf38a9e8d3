"""What the README and the help texts claim about the lab's platforms, read against the lab's recipe.

The recipe (tests/lab/recipe.py) is where the tested Debian suites and snapd generations are decided;
the README's platform table, its `make demo` line, the Makefile's help and tests/tools/demo.sh must say
the same.
"""

import re
from pathlib import Path

from tests.lab.recipe import FLAVOURS, parse_flavours

ROOT = Path(__file__).resolve().parents[2]


def readme_section(title):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def table_rows(section):
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]


def series(flavour):
    return flavour.snapd_series.rstrip(".")


def demo_default():
    demo = (ROOT / "tests/tools/demo.sh").read_text(encoding="utf-8")
    match = re.search(r'^DEMO_FLAVOUR="\$\{DEMO_FLAVOUR:-([^}]+)\}"', demo, re.MULTILINE)
    assert match, "tests/tools/demo.sh sets no default DEMO_FLAVOUR"
    return match.group(1)


def test_the_platform_table_lists_as_tested_exactly_the_recipes_suites_and_snapd_versions():
    tested = {}
    for row in table_rows(readme_section("Platforms")):
        if len(row) == 3 and row[2].startswith("tested"):
            suite = re.search(r"\(([a-z]+)", row[0])
            assert suite, f"a tested row names no Debian suite in parentheses: {row}"
            tested[suite.group(1)] = (row[1], row[2])
    assert {suite: snapd for suite, (snapd, _) in tested.items()} == {
        flavour.suite: series(flavour) for flavour in FLAVOURS.values()}


def test_the_platform_table_says_which_suite_is_tested_without_python():
    without = [suite for suite, status in
               ((re.search(r"\(([a-z]+)", row[0]).group(1), row[2]) for row in table_rows(readme_section("Platforms"))
                if len(row) == 3 and row[2].startswith("tested"))
               if "without any Python" in status]
    lab_images = re.search(r"^LAB_IMAGES \?= (\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert without == [flavour.suite for flavour in parse_flavours(lab_images.group(1)) if not flavour.python]


def test_the_readme_demo_line_names_the_snapd_versions_demo_sh_boots():
    line = next(line for line in readme_section("Try it").splitlines() if line.startswith("make demo"))
    claimed = re.search(r"\(snapd ([^)]*)\)", line).group(1)
    versions = re.findall(r"\d+\.\d+(?: with no Python)?", claimed)
    booted = [series(flavour) + ("" if flavour.python else " with no Python") for flavour in parse_flavours(demo_default())]
    assert versions == booted


def test_the_makefile_demo_help_names_demo_sh_default_flavours():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    help_text = re.search(r"^demo: .*## (.*)$", makefile, re.MULTILINE).group(1)
    assert f"default {demo_default()})" in help_text, help_text
