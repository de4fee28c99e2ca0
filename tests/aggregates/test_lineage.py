"""Where a value goes under boundaries=current (docs/design.md §8), the pure rule on hand-made
edges: known shares, a self-edge, unknown shares, a chain of two reorganisations."""

from datetime import date

from ioc_hub.aggregates.lineage import Lineage, Share
from ioc_hub.registry.timeline import Edge

D1, D2 = date(2025, 7, 1), date(2026, 1, 1)
# Unit 1 split at D1: a quarter to 2, three quarters stay with 1 (its self-edge, primary).
# Unit 3 split at D1 with unknown shares: 4 (primary) and 5. Unit 4 merged into 6 at D2.
EDGES = [
    Edge(1, 2, D1, 0.25, False),
    Edge(1, 1, D1, 0.75, True),
    Edge(3, 4, D1, None, True),
    Edge(3, 5, D1, None, False),
    Edge(4, 6, D2, 1.0, True),
]
TODAY = {1, 2, 5, 6}
BEFORE, BETWEEN = date(2025, 4, 1), date(2025, 10, 1)


def test_known_shares_split_a_value_and_a_self_edge_keeps_its_share() -> None:
    lineage = Lineage(EDGES, TODAY)
    assert lineage.shares(1, BEFORE, by_share=True) == [
        Share(1, 0.75, False),
        Share(2, 0.25, False),
    ]
    assert lineage.shares(1, BEFORE, by_share=False) == [Share(1, 1.0, False)]


def test_an_unknown_share_goes_whole_to_the_primary_and_follows_later_edges() -> None:
    lineage = Lineage(EDGES, TODAY)
    # 3 → 4 (primary, the whole of an unknown split) → 6 at D2.
    assert lineage.shares(3, BEFORE, by_share=True) == [Share(6, 1.0, True)]
    assert lineage.shares(3, BEFORE, by_share=False) == [Share(6, 1.0, True)]


def test_only_edges_after_the_period_began_apply() -> None:
    lineage = Lineage(EDGES, TODAY)
    assert lineage.shares(4, BETWEEN, by_share=True) == [Share(6, 1.0, False)]
    assert lineage.shares(1, BETWEEN, by_share=True) == [Share(1, 1.0, False)]
    assert lineage.shares(3, BETWEEN, by_share=True) == [], "3 no longer exists: nowhere to go"


def test_edges_after_the_chosen_day_are_not_in_force() -> None:
    lineage = Lineage([e for e in EDGES if e.effective <= D1], {1, 2, 4, 5})
    assert lineage.shares(3, BEFORE, by_share=True) == [Share(4, 1.0, True)]


def test_known_shares_stay_and_the_rest_of_an_unknown_split_goes_to_the_primary() -> None:
    edges = [Edge(7, 8, D1, 0.4, False), Edge(7, 9, D1, None, True)]
    assert Lineage(edges, {8, 9}).shares(7, BEFORE, by_share=True) == [
        Share(8, 0.4, False),
        Share(9, 0.6, True),
    ]
