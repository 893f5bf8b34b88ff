"""The project's own Apache Kafka broker: fetched from Maven Central, run with ``java``."""
