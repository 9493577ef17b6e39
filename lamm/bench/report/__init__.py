"""``lamm report``: leaderboards across ``lamm eval`` runs, as HTML (self-contained) or Markdown.

Runs are grouped by the benchmark they evaluated (:mod:`lamm.bench.provenance`): LAMM-Mini and the real
LAMM-Benchmark never share a leaderboard or a chart, and the paper's published zero-shot numbers are
reference rows only beside runs on the real LAMM-Benchmark. Per benchmark: a leaderboard with 95% confidence
intervals (:mod:`lamm.metrics.intervals`), the trivial baseline of every dataset that has one (a baseline
run of the group, else computed here from the benchmark files), a radar and a bar chart with error bars.
Then the runs' provenance, training curves of models trained by ``lamm train`` (checkpoint ->
``train_log.jsonl``), per-dataset detail (metric, interval, parse failures, skipped records and why) and
example records with their ground truth, the answer and whether it was scored right.

One job per module, in the order a report is made:

- :mod:`.runs`: a run folder (``results.json``, per-record ``scores/``) and loading several;
- :mod:`.leaderboard`: runs grouped by benchmark, each group's columns and rows (runs, trivial baseline,
  the paper's rows), display units, the best value per column; :class:`~.leaderboard.Table`;
- :mod:`.baseline`: the trivial baseline scored from the benchmark files when no baseline run is given;
- :mod:`.extra_tables`: tables shown below a group's leaderboard (one builder per table), such as
  :mod:`.suite3d_table` (the 3D suite's metrics beside the published numbers);
- :mod:`.examples`, :mod:`.training`, :mod:`.detail`: example records, ``lamm train`` curves, the
  per-dataset detail rows;
- :mod:`.plots`: the PNG figures; :mod:`.html_page`, :mod:`.markdown_page`, :mod:`.terminal`: the
  renderers; :mod:`.write`: ``write_report``, which makes the figures and picks the renderer.
"""
