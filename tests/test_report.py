"""The sweep report on a hand-made multirun folder: numbers, ranking, references, colours,
curves, links, failures, files; an Optuna sweep ranked by its objective; baselines (PCA-k,
training mean) and ceilings placed in the ranking by value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bold5000_ae.cli.report import main as report_main
from bold5000_ae.report import ReportSettings, build_report, collect_runs, interactive
from bold5000_ae.report.curves import curve_table
from bold5000_ae.report.figures import palette
from bold5000_ae.utils.errors import InputError

SETTINGS = ReportSettings(metrics=["test/r2", "test/pearson_r", "test/auc", "test/loss"],
                          rank_by="test/r2", curve_metrics=["val/r2", "val/loss"])


def make_job(root: Path, num: int, overrides: list[str], metrics: dict | None = None,
             failure: str | None = None, curve: list[float] | None = None,
             volume_scale: float = 1.0) -> Path:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text("seed: 1\n")
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if failure is not None:
        (job / "failed.json").write_text(json.dumps({"error": failure, "traceback": "..."}))
    if curve is not None:
        (job / "csv").mkdir()
        rows = [{"epoch": e, "step": e, "val/r2": v, "val/loss": 1 - v} for e, v in
                enumerate(curve)] + [{"epoch": 0, "step": 0, "train/loss": 9.0}]
        pd.DataFrame(rows).to_csv(job / "csv" / "metrics.csv", index=False)
    if metrics is not None:
        true = np.linspace(-1, 1, 6 * 7 * 5).reshape(6, 7, 5)
        (job / "figures").mkdir()
        np.savez_compressed(job / "figures" / "example.npz", true=true, recon=true * volume_scale)
    return job


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multiruns" / "2024-01-01_00-00-00"
    common = ["trainer.max_epochs=3"]
    refs = {"baseline/pca_k/test/r2": 0.25, "baseline/train_mean/test/r2": 0.0,
            "ground_truth/noise_ceiling_r2": 0.8}
    make_job(root, 0, ["model/loss=mse", "seed=1", *common],
             {"test/r2": 0.30, "test/pearson_r": 0.60, "test/loss": 5.0, **refs},
             curve=[0.1, 0.2, 0.3])
    make_job(root, 1, ["model/loss=mse", "seed=2", *common],
             {"test/r2": 0.40, "test/pearson_r": 0.70, "test/loss": 4.0, **refs,
              "baseline/pca_k/test/r2": 0.27}, curve=[0.1, 0.3, 0.4])
    make_job(root, 2, ["model/loss=l1", "seed=1", *common],
             {"test/r2": 0.50, "test/pearson_r": 0.55, "test/loss": 0.1, **refs},
             curve=[0.2, 0.5], volume_scale=0.5)
    make_job(root, 3, ["model/loss=l1", "seed=2", *common],
             failure="ValueError: Invalid learning rate: -1.0")
    make_job(root, 4, ["model/loss=ssim", "seed=1", *common])  # died without a word
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


def test_collect_labels_runs_by_overrides_without_seed(sweep: Path) -> None:
    runs, common = collect_runs(sweep)
    assert list(runs["job"]) == ["0", "1", "2", "3", "4"]
    assert common == ["trainer.max_epochs=3"]
    assert list(runs["label"]) == ["model/loss=mse"] * 2 + ["model/loss=l1"] * 2 + [
        "model/loss=ssim"]
    assert list(runs["seed"]) == ["1", "2", "1", "2", "1"]
    assert list(runs["status"]) == ["ok", "ok", "ok", "failed", "failed"]
    assert runs.loc[3, "error"] == "ValueError: Invalid learning rate: -1.0"
    assert "no metrics.json" in runs.loc[4, "error"]


def test_report_numbers_ranking_and_files(sweep: Path) -> None:
    report = build_report(sweep, SETTINGS)
    assert report.folder == sweep / "report"
    assert (report.n_runs, report.n_failed) == (5, 2)
    summary = pd.read_csv(report.files["summary.csv"])
    # ranked by mean test/r2: l1 (0.50, 1 seed) before mse (0.35 over 2 seeds)
    assert list(summary["label"]) == ["model/loss=l1", "model/loss=mse"]
    assert list(summary["rank"]) == [1, 2]
    mse = summary.set_index("label").loc["model/loss=mse"]
    assert mse["n"] == 2
    assert mse["test/r2 mean"] == pytest.approx(0.35)
    assert mse["test/r2 std"] == pytest.approx(np.std([0.3, 0.4], ddof=1))
    assert mse["test/pearson_r mean"] == pytest.approx(0.65)
    # one seed has no spread: NaN in the CSV, no "± 0.0000" in the tables
    assert np.isnan(summary.set_index("label").loc["model/loss=l1", "test/r2 std"])
    # a run's own loss is never compared; a metric no run reported is left out
    assert not any("loss" in c for c in summary.columns)
    assert not any("auc" in c for c in summary.columns)
    markdown = report.files["summary.md"].read_text()
    assert "| 1 | `model/loss=l1` | 1 | 0.5000 | 0.5500 |" in markdown
    assert "± 0.0000" not in markdown
    assert "0.3500 ± 0.0707" in markdown
    # baselines and the ceiling: fixed rows, averaged over the runs that reported them
    refs = pd.read_csv(report.files["references.csv"]).set_index("label")
    assert set(refs.index) == {"baseline: pca_k", "baseline: train_mean",
                               "ceiling: noise_ceiling_r2"}
    assert refs.loc["baseline: pca_k", "test/r2 mean"] == pytest.approx((0.25 + 0.27 + 0.25) / 3)
    assert refs.loc["baseline: pca_k", "n"] == 3
    assert refs.loc["ceiling: noise_ceiling_r2", "test/r2 mean"] == pytest.approx(0.8)
    assert np.isnan(refs.loc["baseline: pca_k", "test/pearson_r mean"])
    assert "| – | *baseline: pca_k* | – | 0.2567 ± 0.0115 | – |" in markdown
    runs_md = report.files["runs.md"].read_text()
    assert "ValueError: Invalid learning rate: -1.0" in runs_md
    for name in ("metrics.png", "learning_curves.png", "montage.png"):
        assert report.files[name].stat().st_size > 5_000, name


def test_curves_are_mean_and_band_over_seeds_on_whole_epochs(sweep: Path) -> None:
    runs, _ = collect_runs(sweep)
    table = curve_table(runs, "val/r2").set_index(["label", "epoch"])
    mse = table.loc["model/loss=mse"]
    assert list(mse.index) == [1, 2, 3]  # epochs completed, not 0.0-1.0
    assert list(mse["mean"]) == pytest.approx([0.1, 0.25, 0.35])
    assert list(mse["std"]) == pytest.approx([0.0, np.std([0.2, 0.3], ddof=1),
                                              np.std([0.3, 0.4], ddof=1)])
    assert list(mse["n"]) == [2, 2, 2]
    assert table.loc["model/loss=l1", "std"].isna().all()


def test_one_colour_per_configuration_in_every_figure(sweep: Path) -> None:
    runs, _ = collect_runs(sweep)
    table = pd.read_csv(build_report(sweep, SETTINGS).files["summary.csv"])
    colours = palette(list(table["label"]))
    bars = interactive.bars(table, ["test/r2"], colours, pd.DataFrame(columns=["label"]))
    bar_colour = dict(zip(bars.data[0].x, bars.data[0].marker.color, strict=True))
    curves = interactive.curves({"val/r2": curve_table(runs, "val/r2")}, colours)
    curve_colour = {t.name: t.line.color for t in curves.data if t.mode == "lines+markers"}
    assert bar_colour == curve_colour == colours
    assert len(set(colours.values())) == 2
    # bars are in rank order (l1 first), curves in job order (mse first): same colours anyway
    assert list(bars.data[0].x) == ["model/loss=l1", "model/loss=mse"]
    assert [t.name for t in curves.data if t.mode == "lines+markers"][0] == "model/loss=mse"


def test_html_is_self_contained_and_lists_failures(sweep: Path) -> None:
    page = build_report(sweep, SETTINGS).files["report.html"].read_text()
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 3
    assert not re.search(r"src=['\"]https?:", page)  # no CDN: Plotly's JS is in the page
    assert "Plotly.newPlot" in page and len(page) > 3_000_000
    assert page.count("class='failed'") == 2
    assert "Invalid learning rate" in page and "no metrics.json" in page
    # each run links to its folder, config, CSV log and figures, relative to the page
    assert "href='../0/.hydra/config.yaml'" in page and "href='../0/csv/metrics.csv'" in page
    assert "href='../4'" in page  # a job that died still has its folder
    assert "<tr class='reference'><td>–</td><td>baseline: pca_k</td>" in page
    # parallel coordinates over the swept parameter, ending at the ranking metric
    assert '"type":"parcoords"' in page.replace(" ", "")


def test_optuna_sweep_is_ranked_by_its_objective(sweep: Path) -> None:
    (sweep / "sweep.json").write_text(json.dumps({
        "sweeper": "optuna", "objective": "test/pearson_r", "direction": "minimize",
        "storage": None, "study_name": None}))
    report = build_report(sweep, SETTINGS)
    summary = pd.read_csv(report.files["summary.csv"])
    assert list(summary["label"]) == ["model/loss=l1", "model/loss=mse"]  # 0.55 < 0.65
    assert list(summary.columns[5:7]) == ["test/pearson_r mean", "test/pearson_r std"]
    assert "ranked by test/pearson_r (lower is better)" in report.files["summary.md"].read_text()
    explicit = build_report(sweep, SETTINGS, explicit_rank=True)  # --rank-by wins
    assert list(pd.read_csv(explicit.files["summary.csv"])["label"])[0] == "model/loss=l1"


def test_report_of_an_all_failed_sweep_still_writes_an_empty_folder_is_refused(
        tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no runs"):  # never a report of "0 jobs"
        build_report(empty, SETTINGS)
    assert list(empty.iterdir()) == []
    failed = tmp_path / "failed"
    make_job(failed, 0, ["seed=1"], failure="RuntimeError: boom")
    report = build_report(failed, SETTINGS)
    assert report.n_failed == 1 and "boom" in report.files["report.html"].read_text()
    assert "montage.png" not in report.files


def test_console_entry(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert report_main([str(sweep), "--out", str(tmp_path / "r"), "--metrics", "test/pearson_r",
                        "--rank-by", "test/pearson_r"]) == 0
    assert "5 jobs (2 failed)" in capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert list(summary["label"]) == ["model/loss=mse", "model/loss=l1"]  # by Pearson r now
    assert report_main([str(tmp_path / "missing")]) == 2


@pytest.fixture
def sweep_vs_pca(tmp_path: Path) -> Path:
    """Three losses around a PCA-k baseline: l1 above it, mse and bce below it."""
    root = tmp_path / "multiruns" / "2024-01-02_00-00-00"
    base = {"baseline/train_mean/test/r2": 0.0, "baseline/ceiling/test/r2": 0.9}
    jobs = [("mse", 1, 0.30, 0.61), ("mse", 2, 0.34, 0.59), ("l1", 1, 0.70, 0.60),
            ("l1", 2, 0.66, 0.60), ("bce", 1, 0.10, 0.60)]
    for num, (loss, seed, r2, pca) in enumerate(jobs):
        make_job(root, num, [f"model/loss={loss}", f"seed={seed}"],
                 {"test/r2": r2, "test/pearson_r": 0.5, **base, "baseline/pca_k/test/r2": pca})
    return root


def test_baselines_are_ranked_among_the_configurations_by_value(sweep_vs_pca: Path) -> None:
    settings = ReportSettings(metrics=["test/r2", "test/pearson_r"], rank_by="test/r2")
    report = build_report(sweep_vs_pca, settings)
    ranking = pd.read_csv(report.files["ranking.csv"])
    # by mean test/r2: ceiling 0.9, l1 0.68, PCA-k 0.60, mse 0.32, bce 0.10, training mean 0.0
    assert list(ranking["label"]) == ["ceiling: noise-free twin", "model/loss=l1",
                                      "baseline: pca_k", "model/loss=mse", "model/loss=bce",
                                      "baseline: train_mean"]
    assert list(ranking["kind"]) == ["ceiling", "configuration", "baseline", "configuration",
                                     "configuration", "baseline"]
    # configurations keep their own ranks; references have none
    assert list(ranking["rank"].fillna(0).astype(int)) == [0, 1, 0, 2, 3, 0]
    assert ranking.loc[2, "test/r2 mean"] == pytest.approx(0.60)
    markdown = report.files["summary.md"].read_text()
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    order = [next(name for name in ("ceiling", "l1", "pca_k", "mse", "bce", "train_mean")
                  if name in line) for line in lines[1:]]
    assert order == ["ceiling", "l1", "pca_k", "mse", "bce", "train_mean"]
    assert "1 of 3 configurations beat it" in markdown  # PCA-k: only l1
    assert "3 of 3 configurations beat it" in markdown  # the training mean
    page = report.files["report.html"].read_text()
    assert "1 of 3 configurations beat it" in page
    table = page[page.index("id='ranking'"):page.index("</table>", page.index("id='ranking'"))]
    assert table.index("model/loss=l1</code>") < table.index("baseline: pca_k") < table.index(
        "model/loss=mse</code>")


def test_a_sweep_that_loses_to_pca_says_so(tmp_path: Path) -> None:
    root = tmp_path / "multiruns" / "2024-01-03_00-00-00"
    for num, r2 in enumerate([0.2, 0.3]):
        make_job(root, num, [f"model/loss={['mse', 'l1'][num]}", "seed=1"],
                 {"test/r2": r2, "baseline/pca_k/test/r2": 0.75})
    report = build_report(root, ReportSettings(metrics=["test/r2"], rank_by="test/r2"))
    ranking = pd.read_csv(report.files["ranking.csv"])
    assert ranking.loc[0, "label"] == "baseline: pca_k"
    assert "0 of 2 configurations beat it" in report.files["summary.md"].read_text()


def test_seeds_and_folds_of_a_configuration_are_one_row_with_a_confidence_interval(
        tmp_path: Path) -> None:
    """2 seeds × 3 folds of each net: one row each, the t interval over its 6 runs, and the
    counts of seeds and folds it holds; a pruned trial is listed, never ranked."""
    from scipy import stats

    root = tmp_path / "multiruns" / "2024-01-01_00-00-00"
    values = {"model/net=mlp": [0.30, 0.32, 0.28, 0.35, 0.31, 0.29],
              "model/net=conv3d": [0.40, 0.45, 0.38, 0.41, 0.44, 0.36]}
    num = 0
    for net, scores in values.items():
        for i, score in enumerate(scores):
            make_job(root, num, [net, f"seed={i % 2}", f"data.split.fold={i // 2}",
                                 "data/split=kfold_sessions"], {"test/r2": score})
            num += 1
    make_job(root, num, ["model/net=conv2d", "seed=0", "data.split.fold=0",
                         "data/split=kfold_sessions"],
             {"test/r2": 0.9, "status": "pruned", "optuna/pruned_at_epoch": 1})
    report = build_report(root, SETTINGS)
    summary = pd.read_csv(report.files["summary.csv"]).set_index("label")
    assert list(summary.index) == ["model/net=conv3d", "model/net=mlp"]
    for net, scores in values.items():
        row = summary.loc[net]
        assert (row["n"], row["seeds"], row["folds"]) == (6, 2, 3)
        mean, sem = np.mean(scores), stats.sem(scores)
        low, high = stats.t.interval(0.95, len(scores) - 1, loc=mean, scale=sem)
        assert row["test/r2 mean"] == pytest.approx(mean)
        assert (row["test/r2 ci_low"], row["test/r2 ci_high"]) == (pytest.approx(low),
                                                                   pytest.approx(high))
    markdown = report.files["summary.md"].read_text()
    low, high = summary.loc["model/net=conv3d", ["test/r2 ci_low", "test/r2 ci_high"]]
    assert f"| 1 | `model/net=conv3d` | 6 (2 seeds × 3 folds) | 0.4067 ± 0.0344, CI [{low:.4f}, " \
        f"{high:.4f}] |" in markdown
    assert "1 pruned by the search (not ranked)" in markdown
    runs = pd.read_csv(report.files["runs.csv"])
    assert list(runs["status"]).count("pruned") == 1
