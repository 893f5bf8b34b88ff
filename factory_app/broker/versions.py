"""The one place the default Kafka broker version is set."""

# Newest release that passed the whole suite here (see README, "Kafka versions").
DEFAULT_KAFKA_VERSION = "4.4.0"
