"""SnapStart: an optional template parameter, published versions behind an alias on every function."""

import pytest

from local.template import SamTemplate


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return SamTemplate.load()


def test_the_parameter_is_optional_and_off_by_default(template: SamTemplate) -> None:
    parameter = template.data["Parameters"]["SnapStart"]
    assert parameter["AllowedValues"] == ["None", "PublishedVersions"]
    assert parameter["Default"] == "None"


@pytest.mark.parametrize("value", ["None", "PublishedVersions"])
def test_every_function_publishes_behind_live_and_follows_the_parameter(
    template: SamTemplate, local_config: dict[str, str], value: str
) -> None:
    config = {**local_config, "SNAP_START": value}
    functions = template.function_ids(config)
    assert len(functions) == len(template.resources_of_type("AWS::Serverless::Function"))
    for function in functions:
        properties = template.function_properties(function, config)
        assert properties["AutoPublishAlias"] == "live", function
        assert properties["SnapStart"] == {"ApplyOn": value}, function


def test_no_function_overrides_the_globals(template: SamTemplate) -> None:
    """One setting for all: a function of its own would run without the alias or the snapshot."""
    for name, function in template.resources_of_type("AWS::Serverless::Function").items():
        assert not {"AutoPublishAlias", "SnapStart"} & set(function["Properties"]), name
