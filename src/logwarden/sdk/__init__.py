"""Ship application logs to logwarden from Python's `logging` (and structlog on top of it).

    import logging
    from logwarden.sdk import LogwardenHandler

    logging.getLogger().addHandler(LogwardenHandler("http://127.0.0.1:8080", service="checkout", version="1.4.2"))

Standard library only, so an application pays nothing for logwarden's server dependencies.
"""

from logwarden.sdk.handler import HandlerStats, LogwardenHandler

__all__ = ["HandlerStats", "LogwardenHandler"]
