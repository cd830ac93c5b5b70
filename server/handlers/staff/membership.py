"""The trainee's units: see them, consent to one seeing one's data, leave one."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.binding import MyUnitList, MyUnitOut
from server.models.common import OkOut

TAGS = ["profile"]
TRAINEE = ["trainee"]


class MyUnitsHandler(ApiHandler):
    """``/api/v1/me/units``."""

    @endpoint("我的单位（以及单位可查看的资料范围）", response=MyUnitList, roles=TRAINEE, tags=TAGS)
    async def get(self) -> MyUnitList:
        """The caller's unit, whether it created the account, and whether consent was given."""
        assert self.principal is not None
        return await self.services.unit_membership.list(self.principal)


class MyUnitConsentHandler(ApiHandler):
    """``/api/v1/me/units/{unit_id}/consent``."""

    @endpoint("授权单位查看和维护本人资料（手机号、邮箱、照片等）", response=MyUnitOut, roles=TRAINEE, tags=TAGS,
              errors=[404])
    async def post(self, unit_id: str) -> MyUnitOut:
        """Consent for the bound unit; the unit is notified."""
        assert self.principal is not None
        return await self.services.unit_membership.consent(self.principal, unit_id, ip=self.client_ip)

    @endpoint("撤回对单位的授权（仍留在该单位；单位只能再看到姓名和脱敏证件号）", response=MyUnitOut, roles=TRAINEE,
              tags=TAGS, errors=[404])
    async def delete(self, unit_id: str) -> MyUnitOut:
        """Withdraw the consent; the unit is notified."""
        assert self.principal is not None
        return await self.services.unit_membership.withdraw(self.principal, unit_id, ip=self.client_ip)


class MyUnitHandler(ApiHandler):
    """``/api/v1/me/units/{unit_id}``."""

    @endpoint("退出单位（解除绑定，授权一并撤销）", response=OkOut, roles=TRAINEE, tags=TAGS, errors=[404])
    async def delete(self, unit_id: str) -> OkOut:
        """Leave the unit; the unit is notified."""
        assert self.principal is not None
        await self.services.unit_membership.leave(self.principal, unit_id, ip=self.client_ip)
        return OkOut()


routes = [
    (r"/api/v1/me/units", MyUnitsHandler),
    (r"/api/v1/me/units/(?P<unit_id>[^/]+)/consent", MyUnitConsentHandler),
    (r"/api/v1/me/units/(?P<unit_id>[^/]+)", MyUnitHandler),
]
