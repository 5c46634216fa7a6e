"""The error tree users catch: its root, the HTTP base, and the old root's name."""

from __future__ import annotations

import pytest

import mockllm
from mockllm import errors


def test_the_root_catches_every_error_and_http_answers_derive_from_api_error() -> None:
    assert issubclass(errors.APIError, errors.MockLLMError)
    assert issubclass(errors.NotFoundError, errors.APIError)
    assert issubclass(errors.ConfigError, errors.MockLLMError)
    assert not issubclass(errors.ConfigError, errors.APIError)
    assert issubclass(errors.MockLLMAssertionError, AssertionError)


def test_the_old_root_name_still_imports_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="MockLLMError"):
        old = errors.MockLLMException  # type: ignore[attr-defined]
    assert old is errors.MockLLMError
    with pytest.warns(DeprecationWarning):
        assert mockllm.MockLLMException is errors.MockLLMError  # type: ignore[attr-defined]
    assert "MockLLMException" not in errors.__all__


def test_internal_exceptions_are_not_public() -> None:
    for name in ("KeyClash", "UnsupportedPattern", "ClientError", "Mismatch", "NotOffered"):
        assert name not in errors.__all__, name
