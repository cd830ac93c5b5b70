"""Demo notifications: the demo trainee accepted two WeChat subscribe templates in the mini-program."""

from __future__ import annotations

from server.demo.trainee import DEMO_ID_NUMBER
from server.models.subscriptions import SubscriptionsIn
from server.services import Principal
from server.services.container import Services


async def demo_notifications(services: Services) -> list[str]:
    """Record the demo trainee's consent (as the mini-program reports it after a payment) and say where messages go."""
    trainee = await services.accounts.find_by_login(DEMO_ID_NUMBER)
    if trainee is None:
        return []
    await services.subscriptions.record(Principal(trainee["_id"], "trainee"),
                                        SubscriptionsIn(kinds=["payment_approved", "invoice_ready"]))
    settings = services.settings
    where = (f"微信订阅消息或短信（{settings.sms_outbox}）" if settings.notify_backend == "wechat_sms"
             else f"{settings.notify_outbox}")
    return [f"  通知 / notifications: 陈静 已同意“缴费审核通过”“发票已开具”订阅消息各一次"
            f"（GET /api/v1/me/subscriptions）；通知发送到 {where}"]
