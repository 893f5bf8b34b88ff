"""Event-sourced plant control on Faust and Kafka."""

__version__ = "0.1.0"
