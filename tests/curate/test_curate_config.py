"""The [curate] section: every knob has help text and its range is checked when loaded."""

from __future__ import annotations

import dataclasses

import pytest

from selfalign.config import ConfigError
from selfalign.curate.config import CurateConfig
from selfalign.settings import load_config


def test_every_knob_has_help():
    assert all(f.metadata.get("help") for f in dataclasses.fields(CurateConfig))


@pytest.mark.parametrize("override, message", [
    ("curate.policy=best", "curate.policy must be one of passing, random, failing"),
    ("curate.prefer=longest", "curate.prefer must be one of random, shortest, most_asserts"),
    ("curate.near_dedup=['title']", "curate.near_dedup must be one of instruction, response, code"),
    ("curate.threshold=0", "curate.threshold must be in (0, 1]"),
    ("curate.decontam_overlap=1.5", "curate.decontam_overlap must be in (0, 1]"),
    ("curate.augment_p=2", "curate.augment_p must be in [0, 1]"),
    ("curate.augment_max=0", "curate.augment_max must be at least 1"),
    ("curate.num_perm=0", "curate.num_perm must be at least 1"),
    ("curate.stub_timeout_s=0", "curate.stub_timeout_s must be > 0"),
])
def test_out_of_range_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(None, [override])


def test_overrides_reach_the_section():
    cfg = load_config(None, ["curate.policy=random", "curate.near_dedup=[]", "curate.augment_p=0.5"]).curate
    assert (cfg.policy, cfg.near_dedup, cfg.augment_p) == ("random", [], 0.5)
