"""The screenshot parsers on lines of text, as the OCR gives them (spaces lost, labels and values on one line)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.services.payments.ocr_parse import (
    TextBox,
    amount_fen,
    parse_account_tail,
    parse_amount,
    parse_payee,
    parse_remark,
    parse_time,
    reference_in,
    rows,
    split_label,
)


@pytest.mark.parametrize(("text", "fen"), [
    ("¥1,280.00", 128000), ("-1280.00", 128000), ("1280.00元", 128000), ("￥ 1，280.5", 128050),
    ("-1,280.00", 128000), ("+35.00", 3500), ("1280元", 128000),
])
def test_amounts(text: str, fen: int) -> None:
    assert amount_fen(text) == fen


@pytest.mark.parametrize("text", ["9:41", "5G 87%", "216239669334544820", "中国工商银行(1234)", "1,28.00", ""])
def test_not_amounts(text: str) -> None:
    assert amount_fen(text, marked=True) is None


def test_the_amount_prefers_a_label_then_a_marked_amount_then_a_plain_decimal() -> None:
    assert parse_amount(["9:41", "转账成功", "手续费 0.00", "金额 ¥1,280.00"]) == 128000
    assert parse_amount(["9:41", "35.50", "-1,280.00", "交易单号 216239669334544820"]) == 128000
    assert parse_amount(["转账成功", "1280.00", "交易单号 4200001"]) == 128000
    assert parse_amount(["转账成功", "交易单号 4200001"]) is None


@pytest.mark.parametrize(("lines", "at"), [
    (["转账时间 2026-12-01 14:03:22"], datetime(2026, 12, 1, 6, 3, 22, tzinfo=UTC)),
    (["交易时间 2026-12-0114:03:22"], datetime(2026, 12, 1, 6, 3, 22, tzinfo=UTC)),  # the space lost
    (["创建时间 2026年12月1日 14:03"], datetime(2026, 12, 1, 6, 3, tzinfo=UTC)),
    (["2026/12/01 00:30"], datetime(2026, 11, 30, 16, 30, tzinfo=UTC)),  # Beijing midnight: the day before in UTC
    (["9:41", "支付时间", "2026-12-01 14:03:22"], datetime(2026, 12, 1, 6, 3, 22, tzinfo=UTC)),  # value below
])
def test_times_are_beijing_time(lines: list[str], at: datetime) -> None:
    assert parse_time(lines) == at


def test_no_time_without_a_date() -> None:
    assert parse_time(["9:41", "转账时间 14:03"]) is None
    assert parse_time(["2026-13-45 14:03"]) is None


@pytest.mark.parametrize("label", ["收款方", "收款人", "对方户名", "收款账户名", "收款单位"])
def test_payee_labels(label: str) -> None:
    lines = ["转账成功", f"{label} 上海市 某某协会（筹）", "收款账户 中国工商银行(1234)"]
    assert parse_payee(lines) == "上海市某某协会(筹)"


def test_an_account_name_label_is_not_an_account_label() -> None:
    assert split_label("收款账户名 某协会") == ("收款账户名", "某协会")
    assert parse_account_tail(["收款账户名 某协会 1999", "收款账户 招商银行(5678)"]) == "5678"


@pytest.mark.parametrize(("line", "tail"), [
    ("收款账户 中国工商银行(1234)", "1234"), ("收款账户 中国工商银行尾号1234", "1234"),
    ("对方账号 6222 **** **** 1234", "1234"), ("收款账号 6222021001234561234", "1234"),
    ("付款卡 招商银行 尾号 7788", "7788"),
])
def test_account_tails(line: str, tail: str) -> None:
    assert parse_account_tail(["转账成功", line]) == tail


@pytest.mark.parametrize("label", ["转账备注", "附言", "备注", "用途", "转账说明"])
def test_remarks(label: str) -> None:
    assert parse_remark([f"{label}：JP7K3Q9A 培训费", "交易单号 1"]) == "JP7K3Q9A 培训费"
    assert parse_remark(["交易单号 1"]) is None


def test_the_reference_is_found_leniently() -> None:
    assert reference_in("JP7K3Q9A 培训费", "JP7K3Q9A")
    assert reference_in("jp7k 3q9a", "JP7K3Q9A")
    assert reference_in("JP7K3Q9O", "JP7K3Q90")  # O read for 0
    assert not reference_in("培训费", "JP7K3Q9A")
    assert not reference_in(None, "JP7K3Q9A")


def test_boxes_on_one_screen_line_join_left_to_right() -> None:
    boxes = [
        TextBox("**** **** 1234", 725, 930, 965), TextBox("对方账号", 53, 928, 968), TextBox("6222", 629, 932, 966),
        TextBox("对方户名", 53, 810, 850), TextBox("上海市某协会", 577, 812, 848),
    ]
    assert rows(boxes) == ["对方户名 上海市某协会", "对方账号 6222 **** **** 1234"]
