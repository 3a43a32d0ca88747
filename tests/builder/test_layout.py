"""Auto-layout: layered columns, and long chains wrapped into bands that fit a canvas."""

from builder.document import Network
from builder.layout import COLUMN, WRAP_FROM, layered_positions


def chain(n: int) -> Network:
    net = Network("main")
    ids = [net.add("Linear", id=f"n{i}", units=4) for i in range(n)]
    net.chain(*ids)
    return net


def test_a_short_chain_stays_in_one_row():
    pos = layered_positions(chain(WRAP_FROM - 1))
    assert {y for _, y in pos.values()} == {0.0}
    assert [pos[f"n{i}"][0] for i in range(WRAP_FROM - 1)] == [
        i * COLUMN for i in range(WRAP_FROM - 1)]


def test_a_long_chain_wraps_into_bands_read_like_text():
    n = 25
    pos = layered_positions(chain(n))
    order = sorted(pos, key=lambda k: (pos[k][1], pos[k][0]))  # top to bottom, left to right
    assert order == [f"n{i}" for i in range(n)]
    xs, ys = {x for x, _ in pos.values()}, {y for _, y in pos.values()}
    assert 1 < len(ys) < n and len(xs) < n
    width, height = max(xs) - min(xs) + COLUMN, max(ys) - min(ys)
    assert 1.0 < width / height < 4.0  # a landscape block, not a ribbon
    assert len(set(pos.values())) == n  # no two blocks on one spot


def test_unwrapped_on_request_and_branches_keep_their_rows():
    pos = layered_positions(chain(12), wrap=False)
    assert {y for _, y in pos.values()} == {0.0}
    net = chain(3)
    net.add("Linear", id="side", units=4)
    net.connect("n0", "side")
    pos = layered_positions(net)
    assert pos["side"][0] == pos["n1"][0] and pos["side"][1] != pos["n1"][1]
