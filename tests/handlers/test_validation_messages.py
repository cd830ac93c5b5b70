"""Every validation message is Chinese: each pydantic error type, and what every request model really raises."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import typing
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core.core_schema import ErrorType

import server.models
from server.errors import AppError
from server.handlers.base import validate_model, zh_error_message
from server.models.templates import InvoiceTemplateIn

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"\b(value|should|must|valid|input|field|required|email|address|error|string|number)\b", re.I)
# Every key pydantic puts in an error's context, with values that carry no English of their own.
CONTEXT = {"min_length": 2, "max_length": 8, "gt": 0, "ge": 0, "lt": 9, "le": 9, "multiple_of": 5,
           "expected": "'a', 'b'", "expected_tags": "'a'", "discriminator": "'kind'", "tag": "x",
           "expected_schemes": "'https'", "max_digits": 4, "decimal_places": 2, "whole_digits": 2,
           "pattern": "^x$", "actual_length": 1, "field_type": "x", "class_name": "X", "reason": "xx"}


def chinese(message: str) -> bool:
    """Chinese, no English words outside the quoted allowed values, no unfilled placeholder."""
    words = re.sub(r"'[^']*'", "", message)
    return bool(CJK.search(message)) and not ENGLISH.search(words) and " or " not in words and "{" not in message


@pytest.mark.parametrize("kind", typing.get_args(ErrorType))
def test_every_pydantic_error_type_has_a_chinese_message(kind: str) -> None:
    english = "Input should be a valid value, the field is required"
    for ctx in (CONTEXT, {}):
        error = {"type": kind, "loc": ("x",), "msg": english, "input": "x", "ctx": ctx}
        message = zh_error_message(error)
        assert chinese(message), (kind, ctx is CONTEXT, message)


def test_an_english_value_error_of_a_library_is_not_passed_on() -> None:
    email = {"type": "value_error", "loc": ("email",), "input": "a@",
             "msg": "value is not a valid email address: There must be something after the @-sign.",
             "ctx": {"reason": "There must be something after the @-sign."}}
    assert zh_error_message(email) == "邮箱格式不正确"
    ours = {"type": "value_error", "loc": ("x",), "msg": "Value error, 手机号格式不正确",
            "ctx": {"error": ValueError("手机号格式不正确")}}
    assert zh_error_message(ours) == "手机号格式不正确"  # our validators' Chinese is kept


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.cn", "张三@", "a b@c.cn"])
def test_a_bad_email_gets_a_chinese_422(email: str) -> None:
    with pytest.raises(AppError) as refused:
        validate_model(InvoiceTemplateIn, {"kind": "normal", "medium": "electronic", "title_type": "personal",
                                           "title": "张三", "email": email})
    assert refused.value.status == 422
    assert refused.value.details["fields"]["email"] == "邮箱格式不正确", refused.value.details


def _request_models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.iter_modules(server.models.__path__):
        module = importlib.import_module(f"server.models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__ and cls.model_fields:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


BAD_VALUES: list[Any] = [None, [], {}, "", "x" * 5000, "not valid!", -1, 10**40, 1.5, True, "2026-02-30",
                         "25:61", [1, "a", None], {"a": [1]}, "张三@"]


@pytest.mark.parametrize("model", _request_models(), ids=lambda m: m.__name__)
def test_what_each_model_raises_is_chinese(model: type[BaseModel]) -> None:
    """Each field of each model given wrong values of every kind: every message of the 422 is Chinese."""
    seen = 0
    for bad_fields in ({}, {"unknown_field": 1}, *({name: bad} for name in model.model_fields for bad in BAD_VALUES)):
        try:
            validate_model(model, bad_fields)
        except AppError as refused:
            assert refused.status == 422
            for field, message in (refused.details or {}).get("fields", {}).items():
                seen += 1
                assert chinese(message), (model.__name__, bad_fields, field, message)
    assert seen or not model.model_fields
