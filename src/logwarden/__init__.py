"""logwarden: real-time log analysis and alerting."""

__version__ = "0.1.0"
