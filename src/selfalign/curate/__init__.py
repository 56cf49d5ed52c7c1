"""Curation: executed answers -> SFT examples and a publishable dataset (docs/curation.md).

``curation`` runs the passes (the stage's ``curate_verdicts``, the command's ``Curation``) over
the per-row state of ``rowtable``; ``tests_strength`` and ``collect`` judge the tests,
``stubcheck`` makes the sandbox runs they need, ``sanitize`` cleans the chosen answer,
``select`` chooses, ``neardup`` and ``instructions`` deduplicate, ``dataset`` and ``card`` write
the folder. Nothing is imported here, so using one module does not load the others (or numpy).
"""
