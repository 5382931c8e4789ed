"""A report as a list of blocks (headings, paragraphs, tables, images), written as Markdown and as one HTML file.

Markdown tables are written here rather than with pandas' ``to_markdown``, which needs the optional ``tabulate``
package. The HTML embeds every image as base64 so that the file stands alone (as an MLflow artifact, by mail).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Document:
    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)  # (kind, content): h2, h3, p, items, table, image

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append((f"h{level}", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("p", text))

    def items(self, lines: list[str]) -> None:
        if lines:
            self.blocks.append(("items", list(lines)))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame))

    def image(self, path: Path) -> None:
        self.blocks.append(("image", Path(path)))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind.startswith("h"):
                out += ["#" * int(kind[1]) + f" {content}", ""]
            elif kind == "p":
                out += [str(content), ""]
            elif kind == "items":
                out += [f"- {line}" for line in content] + [""]
            elif kind == "table":
                out += [markdown_table(content), ""]
            elif kind == "image":
                out += [f"![{content.stem}]({content.name})", ""]
        return "\n".join(out)

    def html(self) -> str:
        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, content in self.blocks:
            if kind.startswith("h"):
                parts.append(f"<{kind}>{html.escape(str(content))}</{kind}>")
            elif kind == "p":
                parts.append(f"<p>{html.escape(str(content))}</p>")
            elif kind == "items":
                parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in content) + "</ul>")
            elif kind == "table":
                parts.append(content.to_html(index=False, border=0, classes="fits"))
            elif kind == "image":
                data = base64.b64encode(content.read_bytes()).decode()
                parts.append(f'<figure><img alt="{html.escape(content.stem)}" src="data:image/png;base64,{data}"/>'
                             f"<figcaption>{html.escape(content.stem)}</figcaption></figure>")
        style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table.fits{border-collapse:collapse}"
                 "table.fits td,table.fits th{border:1px solid #bbb;padding:2px 6px;font-size:90%}"
                 "img{max-width:100%}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; pipes in cells are escaped."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
