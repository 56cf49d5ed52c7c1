"""The ``[execute]`` section: how the sandbox runs a pipeline's programs.

The limits are the sandbox's own ``Limits`` (one declaration of every limit, with its help text),
nested as ``[execute.limits]``, so every limit the sandbox knows is settable from TOML and none is
repeated here with a second default.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfalign.config import setting
from selfalign.sandbox.verdict import Limits

ISOLATION_LEVELS = ("auto", "bwrap", "rlimits", "none")


@dataclass
class ExecuteConfig:
    workers: int = setting("parallel sandbox workers; 0 = one per usable CPU", 0)
    isolation: str = setting("auto: a bubblewrap level (root, else a user namespace), or refuse; "
                             "rlimits: no namespaces; none: NO isolation, trusted code only", "auto")
    limits: Limits = setting("per-program limits", factory=Limits)

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_LEVELS:
            raise ValueError(f"execute.isolation must be one of {', '.join(ISOLATION_LEVELS)}, "
                             f"got {self.isolation!r}")
        if self.workers < 0:
            raise ValueError(f"execute.workers must be >= 0, got {self.workers}")
