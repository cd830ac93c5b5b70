"""Per-person delivery (``NOTIFY_BACKEND=wechat_sms``): WeChat subscribe message when accepted, SMS otherwise.

Real parts throughout: the job runner on the test database, wechatpy over HTTP to the local WeChat
stub (which goes down for real: connection refused), the file SMS outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from server.config import Settings
from server.models.subscriptions import SubscriptionsIn
from server.services import Principal
from server.services.container import Services, build_services
from server.services.jobs.notify import WECHAT_TRIES, DeliveryInProgress, PersonalNotifier, enqueue_notification
from tests.faults import FaultPlan, FaultyDatabase
from tests.outbox import read_outbox
from tests.services.payments.helpers import proof_png, submit_body, unpaid
from tests.wechat_stub import WeChatStub

TEMPLATES = {f"wechat_template_{kind}": f"tmpl-{kind}" for kind in
             ("payment_approved", "payment_rejected", "invoice_ready", "payment_deadline_near")}
APPROVED = {"payment_id": "65f0c0ffee0000000000000a", "reference": "JP7K3Q9A", "amount_fen": 120000,
            "session_titles": ["岩土工程勘察专项培训"]}
TEXT = "您的缴费（JP7K3Q9A）已审核通过。"


@pytest.fixture
async def delivery(make_settings: Callable[..., Settings], db: AsyncDatabase[dict[str, Any]],
                   wechat_stub: WeChatStub) -> AsyncIterator[Services]:
    """Services delivering per person through the stub and the SMS outbox, retrying fast."""
    settings = make_settings(**wechat_stub.settings_overrides(
        notify_backend="wechat_sms", jobs_backoff_seconds=0.2, jobs_poll_seconds=0.05, **TEMPLATES))
    built = build_services(settings, db)
    assert isinstance(built.notifier, PersonalNotifier)
    built.runner.start()
    try:
        yield built
    finally:
        await built.close()


async def person(services: Services, *, openid: str | None = None, phone: str | None = "13912345678") -> ObjectId:
    """A trainee account, bound to WeChat when ``openid`` is given, with its phone sealed as registration does."""
    doc: dict[str, Any] = {"_id": ObjectId(), "role": "trainee", "status": "active", "name": "学员",
                           "login_key": f"trainee:{ObjectId()}", "trainee": {}}
    if phone:
        doc["phone"] = services.cipher.encrypt(phone, context="phone")
    if openid:
        doc["wechat"] = {"openid": openid}
    await services.db["accounts"].insert_one(doc)
    return doc["_id"]  # type: ignore[no-any-return]


async def accept(services: Services, account_id: ObjectId, *kinds: str) -> None:
    """The mini-program reports that the person accepted these templates once each."""
    await services.subscriptions.record(Principal(account_id, "trainee"), SubscriptionsIn(kinds=list(kinds)))


async def remaining(services: Services, account_id: ObjectId, kind: str) -> int:
    shown = await services.subscriptions.show(Principal(account_id, "trainee"))
    return next(i.remaining for i in shown.items if i.kind == kind)


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def send(services: Services, account_id: ObjectId, kind: str = "payment_approved",
               data: dict[str, Any] | None = None) -> ObjectId:
    """Enqueue a notification as the payments area does, and wait until the runner has delivered it."""
    job_id = await enqueue_notification(services.jobs, account_id, kind, TEXT, data or APPROVED)

    async def done() -> bool:
        return (await services.db["jobs"].find_one({"_id": job_id}))["status"] == "done"

    await wait_until(done)
    return job_id


def sms(services: Services) -> list[dict[str, Any]]:
    return read_outbox(services.settings.sms_outbox)


async def test_one_acceptance_carries_one_wechat_message_the_next_goes_by_sms(
    delivery: Services, wechat_stub: WeChatStub,
) -> None:
    me = await person(delivery, openid="o-trainee-1")
    await accept(delivery, me, "payment_approved")
    assert await remaining(delivery, me, "payment_approved") == 1
    first = await send(delivery, me)
    [message] = wechat_stub.subscribe_messages
    assert message["touser"] == "o-trainee-1" and message["template_id"] == "tmpl-payment_approved"
    assert message["data"]["character_string3"] == {"value": "JP7K3Q9A"}
    assert message["page"] == "pages/payments/index?payment_id=65f0c0ffee0000000000000a"
    assert sms(delivery) == [] and await remaining(delivery, me, "payment_approved") == 0
    second = await send(delivery, me)
    assert len(wechat_stub.subscribe_messages) == 1  # the acceptance was used up
    [text] = sms(delivery)
    assert text["phone"] == "13912345678" and text["text"] == TEXT and text["purpose"] == "payment_approved"
    records = {r["_id"]: r async for r in delivery.db["notify_deliveries"].find()}
    assert records[str(first)]["channel"] == "wechat" and records[str(second)]["channel"] == "sms"
    assert {r["status"] for r in records.values()} == {"sent"}


async def test_an_acceptance_of_one_kind_does_not_carry_another(delivery: Services, wechat_stub: WeChatStub) -> None:
    me = await person(delivery, openid="o-trainee-2")
    await accept(delivery, me, "invoice_ready")
    await send(delivery, me, "payment_approved")
    assert wechat_stub.subscribe_messages == [] and len(sms(delivery)) == 1
    assert await remaining(delivery, me, "invoice_ready") == 1


async def test_a_refused_template_goes_by_sms_and_the_count_is_corrected(
    delivery: Services, wechat_stub: WeChatStub,
) -> None:
    me = await person(delivery, openid="o-trainee-3")
    await accept(delivery, me, "payment_approved", "payment_approved")  # one prompt: the template counts once
    await accept(delivery, me, "payment_approved")
    assert await remaining(delivery, me, "payment_approved") == 2
    wechat_stub.send_error = (43101, "user refuse to accept the msg")
    job_id = await send(delivery, me)
    assert wechat_stub.subscribe_messages == [] and wechat_stub.send_attempts == 1
    [text] = sms(delivery)
    assert text["text"] == TEXT
    record = await delivery.db["notify_deliveries"].find_one({"_id": str(job_id)})
    assert record["channel"] == "sms" and record["wechat_error"] == 43101 and record["status"] == "sent"
    assert await remaining(delivery, me, "payment_approved") == 0  # WeChat knows better: none left


async def test_without_wechat_or_template_it_goes_by_sms(delivery: Services, wechat_stub: WeChatStub) -> None:
    unbound = await person(delivery)
    await accept(delivery, unbound, "payment_approved")
    await send(delivery, unbound)
    assert wechat_stub.subscribe_messages == [] and len(sms(delivery)) == 1
    assert await remaining(delivery, unbound, "payment_approved") == 1  # not consumed: it was not used
    bound = await person(delivery, openid="o-trainee-4", phone="13800001111")
    await send(delivery, bound, "waitlist_offer", {"session_id": "x"})  # a kind without a template
    assert wechat_stub.subscribe_messages == [] and sms(delivery)[-1]["phone"] == "13800001111"


async def test_nobody_to_reach_is_settled_not_retried(delivery: Services, wechat_stub: WeChatStub) -> None:
    no_phone = await person(delivery, phone=None)
    job_id = await send(delivery, no_phone)
    record = await delivery.db["notify_deliveries"].find_one({"_id": str(job_id)})
    assert record["status"] == "undeliverable" and record["reason"] == "no_phone"
    job_id = await send(delivery, ObjectId())  # no such account (deleted and purged)
    assert (await delivery.db["jobs"].find_one({"_id": job_id}))["attempts"] == 1
    assert sms(delivery) == [] and wechat_stub.subscribe_messages == []


async def test_wechat_down_the_action_succeeds_and_the_message_goes_once_when_it_is_back(
    delivery: Services, wechat_stub: WeChatStub,
) -> None:
    # A real payment: the trainee enrolled, submitted a proof, and a reviewer approves it with WeChat down.
    delivery.runner.handlers.pop("payment_ocr")  # this runner delivers notifications (OCR is tested on its own)
    [trainee], [enrollment] = await unpaid(delivery, delivery.db)
    me = trainee["_id"]
    await delivery.db["accounts"].update_one({"_id": me}, {"$set": {
        "wechat": {"openid": "o-trainee-5"}, "phone": delivery.cipher.encrypt("13912345678", context="phone")}})
    for _ in range(2):  # accepted at two prompts: two messages may go by WeChat
        await accept(delivery, me, "payment_approved")
    payment = await delivery.payments.submit(Principal(me, "trainee"), submit_body([enrollment]), [proof_png()],
                                             ip=None)
    await wechat_stub.go_down()
    decided = await delivery.payments.approve(Principal(ObjectId(), "reviewer"), str(payment["_id"]), ip=None)
    assert decided["status"] == "approved"  # the review succeeds with the notifier down
    stored = await delivery.db["enrollments"].find_one({"_id": enrollment["_id"]})
    assert stored["status"] == "approved"
    job = await delivery.db["jobs"].find_one({"kind": "notify", "payload.data.payment_id": str(payment["_id"])})
    assert job["payload"]["kind"] == "payment_approved"  # the review's outbox
    job_id = job["_id"]

    async def retried_twice() -> bool:
        job = await delivery.db["jobs"].find_one({"_id": job_id})
        return job["attempts"] >= 2 and job["status"] == "failed"

    await wait_until(retried_twice)
    job = await delivery.db["jobs"].find_one({"_id": job_id})
    assert job["last_error"].startswith("SubscribeUnavailable"), job["last_error"]
    assert job["run_at"] > job["failed_at"]  # backing off
    assert sms(delivery) == []  # down is not a refusal: no SMS fallback, the same channel is retried
    wechat_stub.come_back()

    async def done() -> bool:
        return (await delivery.db["jobs"].find_one({"_id": job_id}))["status"] == "done"

    await wait_until(done)
    await asyncio.sleep(0.5)  # nothing more comes
    assert len(wechat_stub.subscribe_messages) == 1 and sms(delivery) == []
    assert await remaining(delivery, me, "payment_approved") == 1  # one acceptance for one message, whatever the retries
    # The job replayed (an admin's retry, a runner that lost its lease after sending): nothing more is sent.
    replay = {**job["payload"]["data"], "notification_id": str(job_id)}
    await delivery.notifier.notify(me, "payment_approved", job["payload"]["text"], replay)
    assert len(wechat_stub.subscribe_messages) == 1 and sms(delivery) == []
    # Control: without the delivery record the same replay sends the message a second time.
    await delivery.db["notify_deliveries"].delete_one({"_id": str(job_id)})
    await delivery.notifier.notify(me, "payment_approved", job["payload"]["text"], replay)
    assert len(wechat_stub.subscribe_messages) == 2


def _without_claim_guard(collection: str, method: str, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Control: the claim's filter without its ``sending_until`` condition (anyone may send)."""
    if collection == "notify_deliveries" and method == "update_one" and "$or" in args[0]:
        args = ({k: v for k, v in args[0].items() if k != "$or"}, *args[1:])
    return args, kwargs


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "control_without_claim"])
async def test_two_runners_sending_one_notification_at_once_send_it_once(
    delivery: Services, wechat_stub: WeChatStub, db: AsyncDatabase[dict[str, Any]], guarded: bool,
) -> None:
    me = await person(delivery, openid="o-trainee-6")
    for _ in range(2):
        await accept(delivery, me, "payment_approved")
    wechat_stub.delay = 0.4  # a slow WeChat: the second runner arrives while the first is sending
    notifier = delivery.notifier
    if not guarded:
        assert isinstance(notifier, PersonalNotifier)
        notifier = PersonalNotifier(
            FaultyDatabase(db, FaultPlan(rewrite=_without_claim_guard)), accounts=delivery.accounts,
            subscriptions=delivery.subscriptions, wechat=notifier.wechat, sms=notifier.sms,
            templates=notifier.templates, page=notifier.page)
    data = {**APPROVED, "notification_id": str(ObjectId())}
    answers = await asyncio.gather(*(notifier.notify(me, "payment_approved", TEXT, data) for _ in range(2)),
                                   return_exceptions=True)
    if guarded:
        assert len(wechat_stub.subscribe_messages) == 1
        assert sum(isinstance(a, DeliveryInProgress) for a in answers) == 1, answers  # that job is retried later
        # its retry, once the first is done, sends nothing
        await notifier.notify(me, "payment_approved", TEXT, data)
        assert len(wechat_stub.subscribe_messages) == 1
    else:
        assert len(wechat_stub.subscribe_messages) == 2, answers
    assert await remaining(delivery, me, "payment_approved") == 1  # one acceptance used either way


async def test_data_not_fitting_the_template_goes_by_sms_and_keeps_the_acceptance(
    delivery: Services, wechat_stub: WeChatStub,
) -> None:
    me = await person(delivery, openid="o-trainee-7")
    await accept(delivery, me, "payment_rejected")
    await send(delivery, me, "payment_rejected", {"payment_id": "p", "reference": "R", "reason": "金额不符"})  # no pay_by
    assert wechat_stub.subscribe_messages == [] and len(sms(delivery)) == 1
    assert await remaining(delivery, me, "payment_rejected") == 1


async def test_a_long_wechat_outage_sends_the_sms_instead(delivery: Services, wechat_stub: WeChatStub) -> None:
    me = await person(delivery, openid="o-trainee-8")
    await accept(delivery, me, "payment_approved")
    await wechat_stub.go_down()
    job_id = await send(delivery, me)  # done, by SMS, after WECHAT_TRIES attempts
    job = await delivery.db["jobs"].find_one({"_id": job_id})
    assert job["attempts"] == WECHAT_TRIES
    [text] = sms(delivery)
    assert text["text"] == TEXT
    record = await delivery.db["notify_deliveries"].find_one({"_id": str(job_id)})
    assert record["channel"] == "sms" and record["wechat_failures"] == WECHAT_TRIES and record["status"] == "sent"
    wechat_stub.come_back()
    await asyncio.sleep(0.3)
    assert wechat_stub.subscribe_messages == []
