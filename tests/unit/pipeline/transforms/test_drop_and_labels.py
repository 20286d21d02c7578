from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.pipeline.transforms.helpers import column, parse_config, run


def test_drop_drops_every_line_it_gets() -> None:
    out = run({"type": "drop", "if": "level:debug"}, [{"message": "a"}, {"message": "b"}])
    assert out.batch.num_rows == 0


def test_drop_accepts_no_other_settings() -> None:
    with pytest.raises(ValidationError):
        parse_config({"type": "drop", "rate": 0.5})


def test_labels_add_constants_and_keep_existing_values() -> None:
    out = run(
        {"type": "labels", "labels": {"env": "prod", "region": "eu-west-1", "version": 3}},
        [{"message": "a", "env": "dev"}, {"message": "b"}],
    )
    assert column(out, "env") == ["dev", "prod"]
    assert column(out, "region") == ["eu-west-1", "eu-west-1"]
    assert column(out, "version") == [3, 3]


def test_labels_overwrite() -> None:
    out = run({"type": "labels", "labels": {"env": "prod"}, "overwrite": True}, [{"message": "a", "env": "dev"}])
    assert column(out, "env") == ["prod"]


def test_labels_can_set_core_service() -> None:
    out = run(
        {"type": "labels", "labels": {"service": "billing"}}, [{"message": "a"}, {"message": "b", "service": "api"}]
    )
    assert column(out, "service") == ["billing", "api"]
