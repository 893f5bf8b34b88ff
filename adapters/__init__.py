"""Protocol connectors (OPC UA ingest and command writer)."""
