"""The pipeline's steps, one module per stage, in order: seeds, concepts, instructions, responses,
execute, curate. These modules are the only code that sees a run (its config, directory and
resources); each adapts a library (``seeds``, ``generate``, ``sandbox``, ``curate``) to it.
Nothing is imported here, so loading one stage does not load the others."""
