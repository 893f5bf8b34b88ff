"""The one place the MirrorMaker 2 version is set.

``org.apache.kafka:connect-mirror`` 4.4.0 (the brokers' version) is not served by the Maven
registry reachable here; 4.3.1 is the newest that resolves with its dependencies. It runs
from its own jar folder (its Kafka clients 4.3.1 talk to 4.4.0 brokers: Kafka clients and
brokers are compatible across these versions). Tested: 4.3.1 against 4.4.0 brokers.
"""

MIRROR_VERSION = "4.3.1"
