"""Hostile input through the real path: generated corpora for every adapter, sent through a broker
and the gateway into a store, every message accounted for (see docs/reliability.md).

`python -m bench hostile` (measure.py) runs the full corpus and measures good traffic beside it."""


def main(argv: list[str]) -> int:
    from bench.hostile.measure import main as measure

    return measure(argv)
