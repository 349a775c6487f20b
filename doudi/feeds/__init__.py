"""Department feeds: contracts (one YAML per kind), ingestion with quarantine and manifest,
quality reports, and the synthetic province's monthly feeds."""
