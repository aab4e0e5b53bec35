from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest

from nndl import config as cfg
from nndl.errors import ConfigError


@dataclass(frozen=True)
class Demo:
    num_epochs: int = cfg.opt(10, "epochs")
    lr: float = cfg.opt(0.1, "learning rate")
    sizes: tuple[int, ...] = cfg.opt((4, 2), "layer sizes")
    mode: Literal["a", "b"] = cfg.opt("a", "mode")
    flag: bool = cfg.opt(False, "a flag")
    name: str | None = cfg.opt(None, "optional name")
    PROFILES: ClassVar[dict] = {"smoke": {"num_epochs": 1}, "full": {"num_epochs": 50, "mode": "b"}}


def test_profiles_are_values_of_one_config():
    assert cfg.resolve(Demo, "quick").num_epochs == 10
    assert cfg.resolve(Demo, "smoke").num_epochs == 1
    full = cfg.resolve(Demo, "full")
    assert (full.num_epochs, full.mode) == (50, "b")


def test_overrides_are_coerced_to_the_declared_types():
    c = cfg.resolve(
        Demo,
        "smoke",
        cfg.parse_overrides(
            ["lr=1e-3", "sizes=8,4,2", "mode=b", "flag=true", "num_epochs=3", "name=x"]
        ),
    )
    assert c == Demo(num_epochs=3, lr=1e-3, sizes=(8, 4, 2), mode="b", flag=True, name="x")
    assert cfg.resolve(Demo, "quick", {"name": "none"}).name is None


@pytest.mark.parametrize(
    "item, message",
    [
        ("epochs=3", "Unknown --set key 'epochs'. Valid keys: num_epochs, lr"),
        ("num_epochs=three", "'num_epochs' expects int; got 'three'"),
        ("lr=fast", "'lr' expects float"),
        ("mode=c", "'mode' must be one of a, b"),
        ("flag=maybe", "'flag' expects true or false"),
        ("sizes=4,x", "'sizes' expects int"),
        ("num_epochs=-5", "'num_epochs' must be a finite number >= 0; got '-5'"),
        ("lr=nan", "'lr' must be a finite number >= 0"),
        ("lr=-1e-3", "'lr' must be a finite number >= 0"),
        ("sizes=4,-2", "'sizes' must be a finite number >= 0"),
        ("num_epochs=2.5", "'num_epochs' expects int; got '2.5'"),
        ("sizes=", "'sizes' needs at least one value"),
    ],
)
def test_bad_overrides_say_what_was_expected(item, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cfg.resolve(Demo, "quick", cfg.parse_overrides([item]))


def test_set_without_equals_and_unknown_profile():
    with pytest.raises(ConfigError, match="key=value"):
        cfg.parse_overrides(["lr"])
    with pytest.raises(ConfigError, match="Unknown profile 'quik'. Did you mean quick"):
        cfg.resolve(Demo, "quik")


def test_to_dict_is_yaml_friendly_and_help_is_kept():
    assert cfg.to_dict(Demo())["sizes"] == [4, 2]
    assert cfg.field_help(Demo)["lr"] == "learning rate"
    with pytest.raises(TypeError):
        cfg.opt([1, 2], "mutable defaults are refused")


def test_did_you_mean_ignores_case():
    from nndl.errors import did_you_mean

    assert did_you_mean("relu", ["ReLU", "GELU", "Tanh"]).startswith(" Did you mean ReLU")
    assert did_you_mean("zzz", ["ReLU", "GELU"]) == " Valid: GELU, ReLU."
