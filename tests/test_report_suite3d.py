"""The report's 3D-suite table (issue 16, item 5): `lamm report` of a real `lamm eval` run on a tiny
LAMM-Mini `--suite-3d` (oracle answers replayed with `answers:`) shows the suite's metrics in the papers'
units beside the published rows of lamm/bench/reference_3d.json, each labelled with its paper and table;
a group without the suite's own datasets (LAMM's 3D datasets alone, as the quickstart's) gets no table and
its report is what it was without the table."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_suite3d_eval import SUITE, N, _meta, bench  # noqa: F401 - ``bench``: the tiny suite fixture

from lamm.bench.report import extra_tables
from lamm.bench.report.leaderboard import group_runs
from lamm.bench.report.runs import load_runs
from lamm.bench.report.suite3d_table import TITLE, suite3d_table
from lamm.cli import main
from lamm.data.mini.oracle import oracle_answers
from lamm.tasks import find_dataset

LAMM_3D = ["ScanNet", "ScanRefer", "ScanQA_multiplechoice"]
# golden reference cells, as their sources print them (values copied into lamm/bench/reference_3d.json):
# the Chat-Scene README (ZzZZCHS/Chat-Scene@475e106 README.md, 'Performance Comparison', the Chat-Scene row)
# and Video-3D LLM Table 1 (arXiv 2412.00493v2; its LEO row, a citation: 'LEO [18] - - - - 38.2 72.4 101.4
# 21.5 50.0')
CHAT_SCENE = "Chat-Scene — Chat-Scene README, arXiv 2312.08168"
LEO_CITED = "LEO — cited in Video-3D LLM Table 1, arXiv 2412.00493v2"


def _eval(bench_dir: Path, tmp: Path, datasets: list[str], name: str) -> Path:
    """`lamm eval` replaying oracle answers (`answers:DIR`) on ``datasets``; the run folder."""
    answers = tmp / f"{name}_answers"
    answers.mkdir()
    for key in datasets:
        spec = find_dataset(key)
        (answers / spec.answer_file).write_text(json.dumps(oracle_answers(bench_dir, spec)), "utf-8")
    run = tmp / name
    args = ["eval", "--benchmark-dir", str(bench_dir), "--datasets", ",".join(datasets), "--model",
            f"answers:{answers}", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    return run


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, under the <h2>/<h3> title above it."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.title = self.cell = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3", "td", "th"):
            self.text, self.cell = "", tag
        elif tag == "br" and self.cell:
            self.text += " "
        elif tag == "table":
            self.tables[self.title] = []
        elif tag == "tr":
            self.tables[self.title].append([])

    def handle_endtag(self, tag):
        if tag in ("h2", "h3"):
            self.title = self.text.strip()
        elif tag in ("td", "th"):
            self.tables[self.title][-1].append(self.text.strip())
        if tag in ("h2", "h3", "td", "th"):
            self.cell = None

    def handle_data(self, data):
        if self.cell:
            self.text += data


def _by_row(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    """``{row name: {column header: cell}}`` of a parsed table (first row: headers)."""
    head = rows[0]
    return {r[0]: dict(zip(head[1:], r[1:])) for r in rows[1:]}


def _md_table(md: str, title: str) -> tuple[dict[str, dict[str, str]], str]:
    """The rows of the Markdown table under ``### title`` and the note paragraph below it."""
    section = md.split(f"### {title}\n\n")[1]
    lines, note = section.split("\n\n")[0].splitlines(), section.split("\n\n")[1]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines if not line.startswith("|---")]
    return _by_row(cells), note


@pytest.fixture(scope="module")
def reports(bench, tmp_path_factory):  # noqa: F811 - the imported fixture
    """The oracle run on the five suite datasets, reported as HTML and Markdown through `lamm report`."""
    tmp = tmp_path_factory.mktemp("suite_report")
    run = _eval(bench, tmp, SUITE, "oracle")
    pages = {}
    for suffix in (".html", ".md"):
        assert main(["report", str(run), "--out", str(tmp / f"report{suffix}")]) == 0
        pages[suffix] = (tmp / f"report{suffix}").read_text("utf-8")
    return run, pages


def _oracle_cells(run: Path, pct: str, x100: str, bold: str) -> dict[str, str]:
    """What the oracle row must show per column: perfect scores (100, percent or x100), CIDEr as
    `lamm score` computed it (x100 already: no further scaling), METEOR not computed."""
    score = json.loads((run / "results.json").read_text("utf-8"))["datasets"]
    perfect = ["ScanRefer@0.25", "ScanRefer@0.5", "ScanQA EM", "ScanQA EM-refined", "ScanQA BLEU-1",
               "ScanQA ROUGE-L", "SQA3D EM", "SQA3D EM-refined", "Scan2Cap BLEU-4@0.5", "Scan2Cap ROUGE-L@0.5",
               "Multi3DRefer@0.25", "Multi3DRefer@0.5"]  # fmt: skip
    units = {name: unit for k in SUITE for name, _, unit in find_dataset(k).columns}
    want = {f"{c}{pct if units[c] == 'fraction' else x100}": bold.format("100.00") for c in perfect}
    want[f"ScanQA CIDEr{x100}"] = bold.format(f"{score['ScanQA']['score']['cider']:.2f}")
    want[f"Scan2Cap CIDEr@0.5{x100}"] = bold.format(f"{score['Scan2Cap']['value']:.2f}")
    want[f"ScanQA METEOR{x100}"] = want[f"Scan2Cap METEOR@0.5{x100}"] = "not computed"
    return want


def test_html_report_shows_the_suite_table_with_our_row_and_cited_reference_rows(reports):
    run, pages = reports
    parser = _Tables()
    parser.feed(pages[".html"])
    rows = _by_row(parser.tables[TITLE])
    ours = rows["oracle"]
    want = _oracle_cells(run, " % ↑", " x100 ↑", "{}")  # bold is markup: the parsed text is the number
    assert {k: ours[k] for k in want} == want
    assert float(ours["ScanQA CIDEr x100 ↑"]) > 100  # CIDEr of a perfect answer is above 100 (not a fraction)
    assert rows[CHAT_SCENE]["ScanRefer@0.25 % ↑"] == "55.50" and rows[CHAT_SCENE]["ScanQA EM % ↑"] == "—"
    assert rows[LEO_CITED]["SQA3D EM % ↑"] == "50.00" and rows[LEO_CITED]["ScanRefer@0.25 % ↑"] == "—"
    table = pages[".html"].split(f"<h3>{TITLE}</h3>")[1].split("</table>")[0]
    assert (
        f"<tr class='paper'><td>{CHAT_SCENE}</td>\n<td>55.50</td>" in table
    )  # never bold: another benchmark
    assert "<td><b>100.00</b></td>" in table and "<td class='na'>not computed</td>" in table
    note = pages[".html"].split(f"<h3>{TITLE}</h3>")[1].split("</table>")[1].split("</p>")[0]
    assert "not comparable" in note and "LAMM-Mini" in note
    assert (
        "https://github.com/ZzZZCHS/Chat-Scene/blob/475e10698b405065bb2a56b70f74ae979c3207ee/README.md"
        in note
    )
    assert "Video-3D LLM Table 1: Video-3D LLM: Learning Position-Aware Video Representation" in note
    # the leaderboard above keeps each suite dataset's headline (with its interval and the trivial baseline)
    board = _by_row(
        next(t for title, t in parser.tables.items() if title.startswith("Leaderboard: LAMM-Mini"))
    )
    assert board["oracle"]["Multi3DRefer f1@0.5 ↑"].startswith("100.00")


def test_markdown_report_shows_the_same_suite_table(reports, bench):  # noqa: F811
    run, pages = reports
    rows, note = _md_table(pages[".md"], TITLE)
    want = _oracle_cells(run, " (% ↑)", " (x100 ↑)", "**{}**")
    assert {k: rows["oracle"][k] for k in want} == want
    assert rows[f"*{CHAT_SCENE}*"]["ScanRefer@0.25 (% ↑)"] == "55.50"
    assert rows[f"*{LEO_CITED}*"]["SQA3D EM (% ↑)"] == "50.00"
    # the best (bold) value is among our rows only: LLaVA-3D's ScanQA BLEU-4 16.4 (its Table 1) is the
    # column's largest number, yet the oracle's BLEU-4 of one-word answers (near 0) is the bold one
    llava = rows["*LLaVA-3D (v3) — LLaVA-3D Table 1, arXiv 2409.18125v3*"]["ScanQA BLEU-4 (x100 ↑)"]
    assert llava == "16.40" and rows["oracle"]["ScanQA BLEU-4 (x100 ↑)"].startswith("**")
    # the trivial baseline (scored by the report from the benchmark files) answers "None" to every
    # Multi3DRefer description: F1 = the share of zero-target descriptions
    share = 100 * sum(not r["gt_bboxes"] for r in _meta(bench, "Multi3DRefer")) / N
    assert rows["*trivial baseline*"]["Multi3DRefer@0.5 (% ↑)"] == f"{share:.2f}"
    assert "not comparable" in note and "arXiv 2409.18125v3, Table 4. Quantitative Comparisons" in note


def test_a_group_without_suite_datasets_gets_no_table_and_an_unchanged_report(bench, tmp_path, monkeypatch):  # noqa: F811
    """LAMM's own 3D datasets alone (ScanRefer included): no suite table, and the page is byte for byte
    the one written with no extra table at all."""
    run = _eval(bench, tmp_path, LAMM_3D, "lamm3d")
    (g,) = group_runs(load_runs([run]))
    assert suite3d_table(g) is None and [k for k, _ in g.cols] == LAMM_3D
    md = tmp_path / "with.md"
    assert main(["report", str(run), "--out", str(md)]) == 0
    monkeypatch.setattr(extra_tables, "BUILDERS", ())
    assert main(["report", str(run), "--out", str(tmp_path / "without.md")]) == 0
    assert md.read_text("utf-8") == (tmp_path / "without.md").read_text("utf-8").replace(
        "without_files", "with_files"
    )
    assert TITLE not in md.read_text("utf-8")
