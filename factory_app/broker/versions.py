"""The one place the default Kafka broker version is set."""

# Newest release that passed the whole suite here (see README, "Kafka versions").
DEFAULT_KAFKA_VERSION = "4.4.0"
# Versions the suite is run against (FACTORY_KAFKA_VERSION selects one).
TESTED_KAFKA_VERSIONS = ("3.9.2", "4.4.0")
