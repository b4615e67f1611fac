"""The gateway's memory of devices it looked up and did not find: asked again only after a while,
and bounded however many different ids arrive."""

from __future__ import annotations

from gateway.recently import Recently


def test_a_key_is_due_again_only_after_the_window():
    recently = Recently(5.0)
    assert set(recently.due({"a", "b"}, 100.0)) == {"a", "b"}
    assert recently.due(["a", "c"], 103.0) == ["c"]
    assert recently.due(["a", "c"], 105.5) == ["a"]


def test_ever_new_keys_do_not_grow_it_without_bound():
    recently = Recently(5.0, prune_at=100)
    for i in range(100_000):  # a thousand new ids a second for 100 s, as hostile traffic could send them
        recently.due([f"x{i}"], i / 1000)
    assert len(recently.seen) <= 2 * 5 * 1000 + 1  # about what the window holds, not all 100,000
    assert recently.due(["x99999", "x90000"], 100.0) == ["x90000"]  # the recent ones are still known
