import pytest

from nndl.cache import ArtifactCache, key_hash


def test_builds_once_and_reuses(tmp_path):
    cache = ArtifactCache(tmp_path)
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "model.txt").write_text("weights")
        return {"accuracy": 0.9}

    key = {"model": "cnn", "data": "shapes", "config": {"epochs": 3}}
    first, cached1 = cache.get_or_build("cnn", key, build)
    second, cached2 = cache.get_or_build("cnn", dict(reversed(list(key.items()))), build)
    assert (cached1, cached2) == (False, True) and first == second and len(calls) == 1
    assert (second / "model.txt").read_text() == "weights"
    assert cache.meta(second)["accuracy"] == 0.9
    other, cached3 = cache.get_or_build("cnn", {**key, "config": {"epochs": 4}}, build)
    assert not cached3 and other != first


def test_interrupted_build_leaves_nothing(tmp_path):
    cache = ArtifactCache(tmp_path)

    def build(folder):
        (folder / "half").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("m", {"k": 1}, build)
    assert cache.get("m", {"k": 1}) is None
    assert not any((tmp_path / "m").iterdir())


def test_key_hash_is_order_independent():
    assert key_hash({"a": 1, "b": 2}) == key_hash({"b": 2, "a": 1}) != key_hash({"a": 2, "b": 1})
