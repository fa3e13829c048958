"""What an Optuna search adds to a sweep's report: the whole stored study (every invocation,
not only this multirun's trials) through Optuna's own visualization module: the best trial,
the objective's history, parameter importances and parallel coordinates; how many trials are
complete, pruned and failed; for several objectives, the Pareto front."""

from __future__ import annotations

import logging
from collections import Counter
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
    # trials per state: {"complete": 5, "pruned": 3, "fail": 1, ...}
    states: dict[str, int] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)


def study_views(storage: str, study_name: str, objective: str | list[str]) -> StudyViews | None:
    """Load the study and draw its views; None when it cannot be loaded. A view that needs more
    trials than there are (importances need two finished ones) is left out with a log line."""
    import functools

    import optuna
    from optuna import visualization as vis
    from optuna.importance import MeanDecreaseImpurityImportanceEvaluator

    from bold5000_ae.utils.optuna_storage import open_storage

    try:
        study = optuna.load_study(study_name=study_name,
                                  storage=open_storage(storage, create=False))
    except Exception as exc:  # noqa: BLE001 - a report without the study is still a report
        log.warning("report: Optuna study %s in %s not loaded: %s", study_name, storage, exc)
        return None
    objectives = [objective] if isinstance(objective, str) else list(objective)
    states = Counter(t.state.name.lower() for t in study.trials)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    views = StudyViews(name=study_name, storage=storage,
                       direction=", ".join(d.name.lower() for d in study.directions),
                       n_trials=len(study.trials), n_complete=len(complete), states=dict(states))
    if len(study.directions) > 1:
        if complete:
            best = study.best_trials[0]
            views.best = {"trials on the Pareto front": len(study.best_trials),
                          "trial": best.number,
                          **dict(zip(objectives, best.values, strict=False)), **best.params}
        draws = [("Pareto front (all trials of the study)", functools.partial(
            vis.plot_pareto_front, target_names=objectives))]
        targets = {}
    else:
        if complete:
            best = study.best_trial
            views.best = {"trial": best.number, objectives[0]: best.value, **best.params}
        draws = [("objective history (all trials of the study)", vis.plot_optimization_history),
                 # the random forest's mean decrease in impurity (scikit-learn): deterministic
                 # with its seed, and fine with a handful of trials
                 ("parameter importances (random forest, mean decrease in impurity)",
                  functools.partial(vis.plot_param_importances,
                                    evaluator=MeanDecreaseImpurityImportanceEvaluator(seed=0))),
                 ("parallel coordinates (all trials of the study)",
                  vis.plot_parallel_coordinate)]
        targets = {"target_name": objectives[0]}
        if states.get("pruned"):
            draws.append(("intermediate values (per epoch; pruned trials end early)",
                          vis.plot_intermediate_values))
    for title, draw in draws:
        try:
            figure = draw(study, **({} if "intermediate" in title else targets))
        except Exception as exc:  # noqa: BLE001 - e.g. importances with one finished trial
            log.info("report: Optuna view %r not drawn: %s", title, exc)
            continue
        figure.update_layout(title=title, height=420)
        views.figures.append((title, figure))
    return views
