"""Hostile input through the real path: generated corpora for every adapter, sent through a broker
and the gateway into a store, every message accounted for (see docs/reliability.md)."""
