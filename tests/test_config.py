"""``t4.config()`` persists settings in one file and refuses what it cannot use."""

from __future__ import annotations

import json
import os

import pytest

import t4
from t4.config import config_path
from t4.errors import ConfigError


def test_settings_persist_and_read_back():
    assert t4.config() == {}
    t4.config(navigator_url="https://catalog.example.com/")
    assert json.loads(config_path().read_text()) == {"navigator_url": "https://catalog.example.com"}
    assert t4.config()["navigator_url"] == "https://catalog.example.com"
    t4.config(navigator_url=None)
    assert t4.config() == {}


@pytest.mark.parametrize(
    ("setting", "value"),
    [("navigator_url", "catalog.example.com"), ("elastic_search_url", "ftp://x"),
     ("default_concurrency", 0), ("default_concurrency", "many"), ("colour", "blue")],
)  # fmt: skip
def test_bad_settings_change_nothing(setting, value):
    t4.config(default_concurrency=4)
    with pytest.raises(ConfigError) as err:
        t4.config(**{setting: value})
    assert isinstance(err.value, ValueError) and setting in str(err.value)
    assert t4.config() == {"default_concurrency": 4}


def test_concurrency_comes_from_call_env_then_config(tmp_path, monkeypatch):
    t4.config(default_concurrency=3)
    assert t4.Bucket(tmp_path).concurrency == 3
    monkeypatch.setenv("T4_CONCURRENCY", "5")
    assert t4.Bucket(tmp_path).concurrency == 5
    assert t4.Bucket(tmp_path, concurrency=7).concurrency == 7
    monkeypatch.setenv("T4_CONCURRENCY", "-1")
    with pytest.raises(ValueError, match="positive integer"):
        t4.Bucket(tmp_path)


def test_unreadable_settings_file_says_where(monkeypatch):
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text("{oops")
    with pytest.raises(ConfigError, match=str(config_path())):
        t4.config()
    assert os.path.exists(config_path())
