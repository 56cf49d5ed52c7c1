import pytest

from selfalign.records import Concepts, Example, RecordError, Response, Seed


LINEAGE = {"parent_id": "p", "seed_id": "s", "instruction_id": "i", "response_id": "r"}


def test_id_is_content_hash_and_stable():
    a = Seed(content="def f(x):\n    return x\n", name="f")
    b = Seed(content="def f(x):\n    return x\n", name="other", path="elsewhere.py")
    c = Seed(content="def g(x):\n    return x\n")
    assert a.id == b.id  # identity is the content, not provenance
    assert a.id != c.id
    assert len(a.id) == 16


def test_parent_changes_id():
    one = Concepts(parent_id="p1", seed_id="p1", seed="s", concepts=["loops"])
    two = Concepts(parent_id="p2", seed_id="p2", seed="s", concepts=["loops"])
    assert one.id != two.id


def test_round_trip():
    r = Response(parent_id="i", seed_id="s", instruction="do x", response="text", solution="x = 1",
                 tests="assert x == 1", sample=3, meta={"k": 1})
    assert Response.from_dict(r.to_dict()) == r


def test_from_dict_names_unknown_missing_and_wrong_fields():
    with pytest.raises(RecordError, match="unknown field.*colour"):
        Example.from_dict({**LINEAGE, "instruction": "i", "response": "r", "colour": 1})
    with pytest.raises(RecordError, match="missing field.*response"):
        Example.from_dict({**LINEAGE, "instruction": "i"})
    with pytest.raises(RecordError, match="'instruction' .* should be str"):
        Example.from_dict({**LINEAGE, "instruction": 5, "response": "r"})
    with pytest.raises(RecordError, match="missing field.*seed_id"):
        Example.from_dict({"parent_id": "p", "instruction_id": "i", "response_id": "r",
                           "instruction": "i", "response": "r"})
    with pytest.raises(RecordError, match="'start_line'"):
        Seed.from_dict({"content": "x", "start_line": "7"})


def test_a_seed_is_its_own_lineage_root():
    seed = Seed(content="def f(x):\n    return x\n")
    assert seed.seed_id == seed.id
