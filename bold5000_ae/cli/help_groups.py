"""``--help`` lists only the config groups the script composes.

Why: every script shares ``conf/``, and Hydra's ``$APP_CONFIG_GROUPS`` lists every group found
there, so ``bold5000-ae-train --help`` offered prepare's ``source`` and synth's ``spec``, which
training never reads. Hydra has no per-app filter for that list; this narrows the one method that
builds it (``Hydra.format_config_groups``), only while ``--help`` is answered.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from hydra._internal.hydra import Hydra

F = TypeVar("F", bound=Callable[..., Any])


def hide_groups_in_help(groups: Iterable[str]) -> Callable[[F], F]:
    """Wrap a ``@hydra.main`` entry point: ``--help`` leaves out ``groups`` (and their
    subgroups); everything else runs untouched."""
    hidden = tuple(groups)

    def decorate(main: F) -> F:
        @functools.wraps(main)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if "--help" not in sys.argv[1:] and "-h" not in sys.argv[1:]:
                return main(*args, **kwargs)
            original = Hydra.format_config_groups

            def narrowed(self: Hydra, predicate: Callable[[str], bool],
                         compact: bool = True) -> str:
                keep = lambda g: predicate(g) and g.split("/")[0] not in hidden  # noqa: E731
                return original(self, keep, compact)

            Hydra.format_config_groups = narrowed  # type: ignore[method-assign]
            try:
                return main(*args, **kwargs)
            finally:
                Hydra.format_config_groups = original  # type: ignore[method-assign]

        return wrapper  # type: ignore[return-value]

    return decorate
