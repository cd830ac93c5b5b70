"""The commit's insert groups: within the count and the bytes of one transaction, nothing lost or reordered."""

from __future__ import annotations

import bson

from server.services.staff.imports import GROUP_BYTES, INSERT_CHUNK, _groups


def test_groups_keep_count_bytes_and_order() -> None:
    big = [{"_id": i, "pad": "x" * 200_000} for i in range(100)]  # 20 MB: more than one group by size
    small = [{"_id": i} for i in range(2 * INSERT_CHUNK + 7)]  # three groups by count
    for docs in (big, small):
        secrets = [{"row": d["_id"]} for d in docs]
        groups = _groups(docs, secrets)
        assert len(groups) > 1
        assert all(len(g) <= INSERT_CHUNK and sum(len(bson.encode(d)) for d in g) <= GROUP_BYTES for g, _ in groups)
        assert [d for g, _ in groups for d in g] == docs
        assert all([s["row"] for s in ss] == [d["_id"] for d in g] for g, ss in groups)
    assert [len(g) for g, _ in _groups(small, small)] == [INSERT_CHUNK, INSERT_CHUNK, 7]
