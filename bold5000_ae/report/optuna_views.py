"""What an Optuna search adds to a sweep's report: the whole stored study (every invocation,
not only this multirun's trials) through Optuna's own visualization module: the best trial,
the objective's history, parameter importances and parallel coordinates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

log = logging.getLogger(__name__)


@dataclass
class StudyViews:
    """The study's best trial and Optuna's figures (title, figure), for the HTML page."""

    name: str
    storage: str
    direction: str
    n_trials: int
    n_complete: int
    best: dict[str, Any] = field(default_factory=dict)
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)


def study_views(storage: str, study_name: str, objective: str) -> StudyViews | None:
    """Load the study and draw its views; None when it cannot be loaded. A view that needs more
    trials than there are (importances need two finished ones) is left out with a log line."""
    import functools

    import optuna
    from optuna import visualization as vis
    from optuna.importance import MeanDecreaseImpurityImportanceEvaluator

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except Exception as exc:  # noqa: BLE001 - a report without the study is still a report
        log.warning("report: Optuna study %s in %s not loaded: %s", study_name, storage, exc)
        return None
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    views = StudyViews(name=study_name, storage=storage,
                       direction=study.direction.name.lower(), n_trials=len(study.trials),
                       n_complete=len(complete))
    if complete:
        best = study.best_trial
        views.best = {"trial": best.number, objective: best.value, **best.params}
    draws = [("objective history (all trials of the study)", vis.plot_optimization_history),
             # optuna 2.x's fANOVA breaks on current numpy; the random forest's mean decrease
             # in impurity (scikit-learn) ranks the parameters the same way
             ("parameter importances (random forest, mean decrease in impurity)",
              functools.partial(vis.plot_param_importances,
                                evaluator=MeanDecreaseImpurityImportanceEvaluator(seed=0))),
             ("parallel coordinates (all trials of the study)", vis.plot_parallel_coordinate)]
    for title, draw in draws:
        try:
            figure = draw(study, target_name=objective)
        except Exception as exc:  # noqa: BLE001 - e.g. importances with one finished trial
            log.info("report: Optuna view %r not drawn: %s", title, exc)
            continue
        figure.update_layout(title=title, height=420)
        views.figures.append((title, figure))
    return views
