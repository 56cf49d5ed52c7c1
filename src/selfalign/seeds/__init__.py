"""Seed mining: docstring'd Python functions from any corpus, filtered, decontaminated and
deduplicated (stage 0 of the pipeline). ``selfalign.seeds.mine.mine_seeds(cfg, llm)`` is the
whole step; ``selfalign.seeds.config.SeedsConfig`` its ``[seeds]`` section. Nothing is imported
here, so reading the config does not load the miner (or numpy)."""
