"""The list indexes of migration 0022 (docs/indexes.md): on every partition, and chosen by the
planner for the API's listings on enough rows that a sequential scan would be cheaper if the
index were not there — the real repository queries, EXPLAIN ANALYZE, no planner settings
changed."""

from __future__ import annotations

from typing import Any

import asyncpg

from ml_prediction_service.bench.list_plans import explain_all, load_data
from ml_prediction_service.stand_ins.ddl import create_dev_schema

LIST_INDEXES = {
    "predictions": {
        "idx_predictions_ts",
        "idx_predictions_model_ts",
        "idx_predictions_alerts_ts",
    },
    "prediction_webhook_log": {"idx_webhook_log_outbox", "idx_webhook_log_outcome"},
    "prediction_webhook_outbox": {"idx_outbox_status_id"},
}

# every partitioned index must have one child per partition
PARTITION_COVERAGE = """
SELECT i.relname AS index,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = i.oid) AS children,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass) AS partitions
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid = $1::regclass
"""


async def test_the_list_indexes_are_on_every_partition(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for table, wanted in LIST_INDEXES.items():
            rows = {r["index"]: r for r in await conn.fetch(PARTITION_COVERAGE, table)}
            assert wanted <= set(rows), table
            for name in wanted:
                assert rows[name]["partitions"] >= 2, table  # DEFAULT and ranges
                assert rows[name]["children"] == rows[name]["partitions"], name


async def test_filtered_listings_use_their_index_for_page_and_count(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await create_dev_schema(conn)
        # 8,000 events × 10 models = 80,000 predictions over two daily partitions
        world = await load_data(conn, models=10, events=8000, coins=800, days=2)
        plans = await explain_all(conn, world)

    def statements(case: str) -> list[dict[str, Any]]:
        """Summaries of the case's statements: [count, page] for a listing."""
        return list(plans[case]["statements"])

    # ?model_id: the page and its count(*), both without a sequential scan of predictions
    for statement in statements("GET /api/predictions?model_id"):
        assert "predictions" not in statement["seq_scans"], plans["GET /api/predictions?model_id"]
    count, page = statements("GET /api/predictions?model_id")
    assert "idx_predictions_model_ts" in count["indexes"]
    assert {"idx_predictions_model_ts", "idx_predictions_ts"} & set(page["indexes"])
    for case, index in (
        ("GET /api/predictions?active_model_id", "idx_predictions_model_ts"),
        ("GET /api/predictions?is_alert=true", "idx_predictions_alerts_ts"),
        ("GET /api/webhooks/log?outbox_id", "idx_webhook_log_outbox"),
        ("GET /api/webhooks/outbox/deliveries?status=failed", "idx_outbox_status_id"),
    ):
        count = statements(case)[0]
        assert index in count["indexes"], (case, plans[case]["plans"][0])
        assert not count["seq_scans"], (case, plans[case]["plans"][0])
    # the newest page without a filter reads the time index, not every row
    page = statements("GET /api/predictions")[1]
    assert "idx_predictions_ts" in page["indexes"], plans["GET /api/predictions"]["plans"][1]
    assert "predictions" not in page["seq_scans"]
