"""Templates of the caller (trainee or unit): shipping addresses and invoice details."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.models.common import OkOut
from server.models.templates import (
    AddressIn,
    AddressList,
    AddressOut,
    InvoiceTemplateIn,
    InvoiceTemplateList,
    InvoiceTemplateOut,
)

TAGS = ["templates"]
OWNERS = ["trainee", "unit"]


class AddressesHandler(ApiHandler):
    """``/api/v1/addresses``."""

    @endpoint("我的物流信息", response=AddressList, roles=OWNERS, tags=TAGS)
    async def get(self) -> AddressList:
        """All the caller's shipping addresses, the default first."""
        assert self.principal is not None
        return await self.services.templates.list_addresses(self.principal)

    @endpoint("新建物流信息", body=AddressIn, response=AddressOut, status=201, roles=OWNERS, tags=TAGS,
              errors=[409])
    async def post(self, body: AddressIn) -> AddressOut:
        """A new shipping address; the first one becomes the default."""
        assert self.principal is not None
        return await self.services.templates.create_address(self.principal, body, ip=self.client_ip)


class AddressHandler(ApiHandler):
    """``/api/v1/addresses/{address_id}``."""

    @endpoint("修改物流信息", body=AddressIn, response=AddressOut, roles=OWNERS, tags=TAGS, errors=[404])
    async def put(self, address_id: str, body: AddressIn) -> AddressOut:
        """Replace one of the caller's addresses."""
        assert self.principal is not None
        return await self.services.templates.replace_address(self.principal, address_id, body, ip=self.client_ip)

    @endpoint("删除物流信息", response=OkOut, roles=OWNERS, tags=TAGS, errors=[404])
    async def delete(self, address_id: str) -> OkOut:
        """Delete one of the caller's addresses."""
        assert self.principal is not None
        await self.services.templates.delete_address(self.principal, address_id, ip=self.client_ip)
        return OkOut()


class InvoiceTemplatesHandler(ApiHandler):
    """``/api/v1/invoice-templates``."""

    @endpoint("我的发票模板", response=InvoiceTemplateList, roles=OWNERS, tags=TAGS)
    async def get(self) -> InvoiceTemplateList:
        """All the caller's invoice templates, the default first."""
        assert self.principal is not None
        return await self.services.templates.list_invoice_templates(self.principal)

    @endpoint("新建发票模板", body=InvoiceTemplateIn, response=InvoiceTemplateOut, status=201, roles=OWNERS,
              tags=TAGS, errors=[409])
    async def post(self, body: InvoiceTemplateIn) -> InvoiceTemplateOut:
        """A new invoice template; the first one becomes the default."""
        assert self.principal is not None
        return await self.services.templates.create_invoice_template(self.principal, body, ip=self.client_ip)


class InvoiceTemplateHandler(ApiHandler):
    """``/api/v1/invoice-templates/{template_id}``."""

    @endpoint("修改发票模板", body=InvoiceTemplateIn, response=InvoiceTemplateOut, roles=OWNERS, tags=TAGS,
              errors=[404])
    async def put(self, template_id: str, body: InvoiceTemplateIn) -> InvoiceTemplateOut:
        """Replace one of the caller's invoice templates."""
        assert self.principal is not None
        return await self.services.templates.replace_invoice_template(
            self.principal, template_id, body, ip=self.client_ip
        )

    @endpoint("删除发票模板", response=OkOut, roles=OWNERS, tags=TAGS, errors=[404])
    async def delete(self, template_id: str) -> OkOut:
        """Delete one of the caller's invoice templates."""
        assert self.principal is not None
        await self.services.templates.delete_invoice_template(self.principal, template_id, ip=self.client_ip)
        return OkOut()


routes = [
    (r"/api/v1/addresses", AddressesHandler),
    (r"/api/v1/addresses/(?P<address_id>[^/]+)", AddressHandler),
    (r"/api/v1/invoice-templates", InvoiceTemplatesHandler),
    (r"/api/v1/invoice-templates/(?P<template_id>[^/]+)", InvoiceTemplateHandler),
]
