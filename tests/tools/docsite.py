"""Write the docs site's extra pages (docs/docsite/rst/*.rst) from the Markdown guides in docs/.

The guides stay Markdown, readable in the repository; antsibull-docs takes only reStructuredText for a
collection's extra docs, so this renders each guide PAGES names into docs/docsite/rst/<name>.rst, which
docs/docsite/extra-docs.yml lists. `--check` writes nothing and fails, naming the stale pages, when a
page is not what the Markdown gives (`make docsite` rewrites them).

Only the Markdown the guides use is understood: headings, paragraphs, bullet and numbered lists, fenced
code, tables, inline code, emphasis and links. A link to a file of the repository becomes its path in
literal text (the docs site has no such file); a link to a heading of a rendered guide becomes a
reference to it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RST_DIR = DOCS / "docsite" / "rst"
LABEL_PREFIX = "ansible_collections.snapfleet.snapd.docsite."
# guide (docs/<name>.md) -> docs site page docs/docsite/rst/<name>.rst
PAGES = ("awx", "fleet-operations", "findings", "performance")
ADORNMENT = {1: "=", 2: "-", 3: "~", 4: "^"}

_ESCAPE = re.compile(r"([\\`*|])|(_)(?=\W|$)")
# a line of text RST would read as a list item or an enumeration
_LINE_START = re.compile(r"^(?=(?:[-+*]|#\.|\d+\.)(?:\s|$))", re.MULTILINE)


def escape(text):
    return _ESCAPE.sub(lambda m: "\\" + m.group(0), text)


def inline(children):
    out = []
    link = None
    for token in children:
        kind = token.type
        if kind == "text":
            (link if link is not None else out).append(escape(token.content))
        elif kind == "code_inline":
            literal = f"``{token.content}``" if "``" not in token.content else token.content
            (link if link is not None else out).append(literal)
        elif kind in ("strong_open", "strong_close"):
            (link if link is not None else out).append("**")
        elif kind in ("em_open", "em_close"):
            (link if link is not None else out).append("*")
        elif kind in ("softbreak", "hardbreak"):
            (link if link is not None else out).append("\n")
        elif kind == "link_open":
            link = []
            href = token.attrs.get("href", "")
        elif kind == "link_close":
            out.append(_link("".join(link), href))
            link = None
        else:
            raise SystemExit(f"docsite: unsupported inline Markdown {kind!r}")
    text = _LINE_START.sub("\\\\", "".join(out))
    # RST inline markup must be followed by a boundary: `x`s and **y**z need an escaped space.
    return re.sub(r"(``|\*\*)(?=[A-Za-z0-9])(?<=[A-Za-z0-9.]``|[A-Za-z0-9.]\*\*)", r"\1\\ ", text)


def _link(text, href):
    if re.match(r"https?://", href):
        return f"`{text} <{href}>`__"
    page, _, anchor = href.partition("#")
    name = Path(page).stem if page.endswith(".md") else None
    if name in PAGES or (not page and anchor):
        return f":ref:`{text} <{LABEL_PREFIX}{name or CURRENT[0]}{'.' + anchor if anchor else ''}>`"
    target = page.replace("../", "")
    return text if text.strip("`") == target.strip("/") or f"``{target}``" == text else f"{text} (``{target}``)"


CURRENT = [""]


def slug(title):
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).strip().replace(" ", "-")


def render(name, markdown):
    CURRENT[0] = name
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    lines = [f".. Generated from docs/{name}.md by tests/tools/docsite.py (make docsite): edit the Markdown.", "",
             f".. _{LABEL_PREFIX}{name}:", ""]
    lists = []  # stack of (ordered, counter)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        indent = "   " * len(lists)
        if kind == "heading_open":
            level = int(token.tag[1])
            title = inline(tokens[index + 1].children)
            if level > 1:
                lines += [f".. _{LABEL_PREFIX}{name}.{slug(tokens[index + 1].content)}:", ""]
            lines += [title, ADORNMENT[level] * len(title), ""]
            if level == 1:
                lines.insert(len(lines) - 3, "=" * len(title))
            index += 3
            continue
        if kind == "paragraph_open":
            text = inline(tokens[index + 1].children)
            item_first = lines and lines[-1].endswith("- ") or lines and re.search(r"\d+\. $", lines[-1] or "")
            body = text.split("\n")
            if item_first:
                lines[-1] += body[0]
                lines += [indent + line for line in body[1:]] + [""]
            else:
                lines += [indent + line for line in body] + [""]
            index += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([kind == "ordered_list_open", int(token.attrs.get("start", 1) or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if lines[-1] != "":
                lines.append("")
        elif kind == "list_item_open":
            ordered = lists[-1]
            marker = f"{ordered[1]}. " if ordered[0] else "- "
            ordered[1] += 1
            lines.append("   " * (len(lists) - 1) + marker)
        elif kind == "list_item_close":
            if lines[-1] != "":
                lines.append("")
        elif kind == "fence" or kind == "code_block":
            language = (token.info or "").strip() or "text"
            language = {"sh": "shell"}.get(language, language)
            lines += [f"{indent}.. code-block:: {language}", ""]
            lines += [f"{indent}   {line}" if line else "" for line in token.content.rstrip("\n").split("\n")] + [""]
        elif kind == "table_open":
            index, table = _table(tokens, index)
            lines += [f"{indent}{line}" if line else "" for line in table]
            continue
        elif kind in ("bullet_list_open", "hr"):
            pass
        else:
            raise SystemExit(f"docsite: unsupported Markdown {kind!r} in docs/{name}.md")
        index += 1
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _table(tokens, index):
    rows, row, header_rows = [], None, 0
    while tokens[index].type != "table_close":
        kind = tokens[index].type
        if kind == "tr_open":
            row = []
        elif kind == "tr_close":
            rows.append(row)
        elif kind == "thead_close":
            header_rows = len(rows)
        elif kind == "inline":
            row.append(inline(tokens[index].children).replace("\n", " "))
        index += 1
    out = [".. list-table::", f"   :header-rows: {header_rows}", ""]
    for cells in rows:
        for column, cell in enumerate(cells):
            out.append(f"   {'* - ' if column == 0 else '  - '}{cell}".rstrip())
    return index + 1, out + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail when a page is stale")
    args = parser.parse_args()
    stale = []
    for name in PAGES:
        page = RST_DIR / f"{name}.rst"
        text = render(name, (DOCS / f"{name}.md").read_text(encoding="utf-8"))
        if page.exists() and page.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(str(page.relative_to(ROOT)))
        else:
            RST_DIR.mkdir(parents=True, exist_ok=True)
            page.write_text(text, encoding="utf-8")
            print(f"docsite: wrote {page.relative_to(ROOT)}")
    if stale:
        sys.exit(f"docsite: {', '.join(stale)} differ from the Markdown in docs/: run `make docsite` and commit them")


if __name__ == "__main__":
    main()
