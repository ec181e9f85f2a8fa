"""The shard function of region_events.yaml: a record's region decides its table."""

import uuid


def region_table(parent_id: uuid.UUID) -> str:
    """Even first bytes live in the EU table, odd ones in the US table."""
    return "region_events_us" if parent_id.bytes[0] % 2 else "region_events_eu"
