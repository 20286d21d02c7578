"""`logwarden notify test RECEIVER`: a sample alert through every integration of a receiver in a config file, with
what each channel answered. It lives in the config layer (like `logwarden pipeline test`) because it starts from
a config file; the channels are the alerting layer's."""

from __future__ import annotations

import sys

import click

from logwarden.alerting.api_calls import fail
from logwarden.alerting.cli import print_json, print_table

_output_option = click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@click.group()
def notify() -> None:
    """Notification receivers."""


@notify.command("test")
@click.argument("receiver")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Server config file (its receivers).")
@_output_option
def notify_test(receiver: str, config_path: str | None, output: str) -> None:
    """Send a sample alert through every integration of RECEIVER and print what each channel answered.

    Exit status 0 when every integration delivered, 1 otherwise."""
    from logwarden.alerting.model import sample_notification
    from logwarden.alerting.service import send_sample
    from logwarden.config.loader import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
    names = [r.name for r in config.alerting.receivers]  # type: ignore[attr-defined]
    if receiver not in names:
        fail(
            f"no receiver named {receiver!r} in {config_path or 'the config'} (receivers: {', '.join(names) or 'none'})"
        )
    external = config.alerting.external_url or f"http://{config.http.host}:{config.http.port}"
    results = send_sample(config.alerting, receiver, sample_notification(receiver, external_url=external))
    if output == "json":
        print_json(results)
    else:
        print_table(
            f"notify test {receiver}",
            ["integration", "target", "outcome", "status", "answer"],
            [[r["integration"], r["target"], r["outcome"], r["status"], str(r["answer"])[:200]] for r in results],
        )
    sys.exit(0 if results and all(r["outcome"] == "delivered" for r in results) else 1)
