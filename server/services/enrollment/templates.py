"""Templates of trainees and units: shipping addresses and invoice details.

Owner-scoped: every query carries ``owner_id``, so another owner's template is
simply not found (404). At most one default per owner is a unique partial
index (``owner_id`` where ``is_default: true``): setting a default clears the
others, then sets this one; if another request set its own default in between,
the index refuses ours and we clear and try again — two defaults cannot exist.
The recipient's phone is personal data: stored encrypted, shown in full only
to the owner. An enrollment keeps its own copy of an address (the template may
change later), with the phone still encrypted under the same context;
:meth:`TemplateService.shown_address` decrypts it for a reader. An invoice
template's e-mail (often the phone number, ``139…@139.com``), 地址电话 and
开户行及账号 are sealed the same way (``INVOICE_SEALED``, each field its own
context) and decrypted for the owner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import errors
from server.models.templates import (
    AddressIn,
    AddressList,
    AddressOut,
    InvoiceTemplateIn,
    InvoiceTemplateList,
    InvoiceTemplateOut,
    out_fields,
)
from server.services import Principal
from server.services.accounts.repository import AccountRepository
from server.services.audit import AuditLog
from server.services.ids import parse_object_id
from server.services.pii import TOKEN_VERSION, FieldCipher, seal, unseal

# A soft cap against abuse, counted before the insert: concurrent creations may pass it by one
# or two, which is harmless (no business rule depends on the exact number).
MAX_PER_OWNER = 20
_DEFAULT_TRIES = 5
# What an enrollment keeps of a shipping address (with ``id``: the template it was copied from).
COPIED_ADDRESS_FIELDS = ("recipient", "phone", "region", "address", "postcode")
# Invoice template fields sealed at rest: field name → encryption context.
INVOICE_SEALED = {"email": "email", "address_phone": "invoice_address_phone", "bank_account": "invoice_bank_account"}


@dataclass(frozen=True)
class _Kind:
    collection: str
    action: str
    noun: str


ADDRESS = _Kind("addresses", "address", "物流信息")
INVOICE = _Kind("invoice_templates", "invoice_template", "发票模板")


class TemplateService:
    """Shipping addresses and invoice templates of one owner (a trainee or a unit)."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, cipher: FieldCipher, audit: AuditLog,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.accounts = AccountRepository(db)
        self.cipher = cipher
        self.audit = audit
        self.now = now or (lambda: datetime.now(UTC))

    # ---- for the enrollment and payment areas ---------------------------------------------

    async def address_copy(self, owner_id: ObjectId, address_id: str | ObjectId | None) -> dict[str, Any] | None:
        """A copy of one address of the owner (its default when ``address_id`` is None) to keep in an
        enrollment, the phone still encrypted; None when there is no such address of this owner."""
        query: dict[str, Any] = {"owner_id": owner_id}
        if address_id is None:
            query["is_default"] = True
        elif ObjectId.is_valid(address_id):
            query["_id"] = ObjectId(address_id)
        else:
            return None
        doc = await self.db[ADDRESS.collection].find_one(query)
        if doc is None:
            return None
        return {"id": str(doc["_id"]), **{k: doc.get(k) for k in COPIED_ADDRESS_FIELDS}}

    def shown_address(self, copy: dict[str, Any] | None) -> dict[str, Any] | None:
        """An enrollment's address copy for a reader: the phone decrypted."""
        if copy is None:
            return None
        phone = copy.get("phone") or ""
        if phone.startswith(f"{TOKEN_VERSION}."):
            phone = self.cipher.decrypt(phone, context="phone")
        # else: a copy made before copies were encrypted holds the number itself.
        return {**copy, "phone": phone}

    async def get_invoice_template(self, owner_id: ObjectId, template_id: str | ObjectId) -> dict[str, Any]:
        """One invoice template of the owner, ready to copy into a payment; 404 otherwise."""
        return out_fields(await self._get(INVOICE, owner_id, template_id), InvoiceTemplateOut)

    def _address_dict(self, doc: dict[str, Any]) -> dict[str, Any]:
        values = out_fields(doc, AddressOut)
        values["phone"] = self.cipher.decrypt(doc["phone"], context="phone")
        return values

    # ---- addresses -------------------------------------------------------------------------------

    async def list_addresses(self, owner: Principal) -> AddressList:
        """All the caller's addresses, the default first."""
        docs = await self._list(ADDRESS, owner.account_id)
        return AddressList(items=[AddressOut(**self._address_dict(d)) for d in docs], total=len(docs))

    async def create_address(self, owner: Principal, body: AddressIn, *, ip: str | None = None) -> AddressOut:
        """A new address; the first one (or one marked so) becomes the default."""
        doc = await self._create(ADDRESS, owner, self._address_values(body), body.is_default, ip)
        return AddressOut(**self._address_dict(doc))

    async def replace_address(
        self, owner: Principal, address_id: str, body: AddressIn, *, ip: str | None = None
    ) -> AddressOut:
        """Replace an address of the caller."""
        doc = await self._replace(ADDRESS, owner, address_id, self._address_values(body), body.is_default, ip)
        return AddressOut(**self._address_dict(doc))

    async def delete_address(self, owner: Principal, address_id: str, *, ip: str | None = None) -> None:
        """Delete an address of the caller (enrollments keep their own copy)."""
        await self._delete(ADDRESS, owner, address_id, ip)

    def _address_values(self, body: AddressIn) -> dict[str, Any]:
        values = body.model_dump(exclude={"is_default", "phone"})
        values["phone"] = self.cipher.encrypt(body.phone, context="phone")
        return values

    # ---- invoice templates ------------------------------------------------------------------------

    async def list_invoice_templates(self, owner: Principal) -> InvoiceTemplateList:
        """All the caller's invoice templates, the default first."""
        docs = await self._list(INVOICE, owner.account_id)
        items = [self._invoice_out(d) for d in docs]
        return InvoiceTemplateList(items=items, total=len(items))

    async def create_invoice_template(
        self, owner: Principal, body: InvoiceTemplateIn, *, ip: str | None = None
    ) -> InvoiceTemplateOut:
        """A new invoice template; the first one (or one marked so) becomes the default."""
        doc = await self._create(INVOICE, owner, self._invoice_values(body), body.is_default, ip)
        return self._invoice_out(doc)

    async def replace_invoice_template(
        self, owner: Principal, template_id: str, body: InvoiceTemplateIn, *, ip: str | None = None
    ) -> InvoiceTemplateOut:
        """Replace an invoice template of the caller."""
        doc = await self._replace(INVOICE, owner, template_id, self._invoice_values(body), body.is_default, ip)
        return self._invoice_out(doc)

    def _invoice_values(self, body: InvoiceTemplateIn) -> dict[str, Any]:
        """What is stored of an invoice template: the personal fields sealed (an empty one stays empty)."""
        values = body.model_dump(mode="json", exclude={"is_default"})
        for name, context in INVOICE_SEALED.items():
            values[name] = seal(self.cipher, values.get(name) or None, context=context) or values.get(name)
        return values

    def _invoice_out(self, doc: dict[str, Any]) -> InvoiceTemplateOut:
        """A stored invoice template for its owner, the sealed fields decrypted."""
        shown = {**doc, **{name: unseal(self.cipher, doc.get(name), context=context)
                           for name, context in INVOICE_SEALED.items()}}
        return InvoiceTemplateOut(**out_fields(shown, InvoiceTemplateOut))

    async def delete_invoice_template(self, owner: Principal, template_id: str, *, ip: str | None = None) -> None:
        """Delete an invoice template of the caller (payments keep their own copy)."""
        await self._delete(INVOICE, owner, template_id, ip)

    # ---- shared mechanics -----------------------------------------------------------------------------

    async def _get(self, kind: _Kind, owner_id: ObjectId, template_id: str | ObjectId) -> dict[str, Any]:
        oid = parse_object_id(template_id, f"{kind.noun}不存在")
        doc = await self.db[kind.collection].find_one({"_id": oid, "owner_id": owner_id})
        if doc is None:
            raise errors.not_found(f"{kind.noun}不存在")
        return doc

    async def _list(self, kind: _Kind, owner_id: ObjectId) -> list[dict[str, Any]]:
        cursor = self.db[kind.collection].find({"owner_id": owner_id}).sort([("is_default", -1), ("created_at", -1)])
        return await cursor.to_list(MAX_PER_OWNER * 2)

    async def _create(
        self, kind: _Kind, owner: Principal, values: dict[str, Any], make_default: bool, ip: str | None
    ) -> dict[str, Any]:
        collection = self.db[kind.collection]
        await self._take_slot(kind, owner.account_id)
        now = self.now()
        doc = {"_id": ObjectId(), "owner_id": owner.account_id, **values, "is_default": False,
               "created_at": now, "updated_at": now}
        try:
            await collection.insert_one(doc)
        except BaseException:
            await self._give_slot(kind, owner.account_id)
            raise
        if make_default:
            await self._make_default(collection, owner.account_id, doc["_id"])
        else:
            await self._default_if_none(collection, owner.account_id, doc["_id"])
        await self._record(f"{kind.action}.create", owner, doc["_id"], ip)
        return await self._get(kind, owner.account_id, doc["_id"])

    async def _replace(
        self, kind: _Kind, owner: Principal, template_id: str, values: dict[str, Any], make_default: bool,
        ip: str | None,
    ) -> dict[str, Any]:
        collection = self.db[kind.collection]
        current = await self._get(kind, owner.account_id, template_id)
        fields = {**values, "updated_at": self.now()}
        if not make_default:
            fields["is_default"] = False  # un-marking is always safe
        result = await collection.update_one({"_id": current["_id"], "owner_id": owner.account_id}, {"$set": fields})
        if result.matched_count == 0:  # deleted meanwhile
            raise errors.not_found(f"{kind.noun}不存在")
        if make_default:
            await self._make_default(collection, owner.account_id, current["_id"])
        await self._record(f"{kind.action}.update", owner, current["_id"], ip, {"is_default": make_default})
        return await self._get(kind, owner.account_id, current["_id"])

    async def _delete(self, kind: _Kind, owner: Principal, template_id: str, ip: str | None) -> None:
        oid = parse_object_id(template_id, f"{kind.noun}不存在")
        result = await self.db[kind.collection].delete_one({"_id": oid, "owner_id": owner.account_id})
        if result.deleted_count == 0:
            raise errors.not_found(f"{kind.noun}不存在")
        await self._give_slot(kind, owner.account_id)
        await self._record(f"{kind.action}.delete", owner, oid, ip)

    async def _take_slot(self, kind: _Kind, owner_id: ObjectId) -> None:
        """Count one more template on the owner's account, refused at the limit (exact under concurrency)."""
        field = f"template_counts.{kind.collection}"
        result = await self.accounts.update_one(
            {"_id": owner_id, "$or": [{field: {"$exists": False}}, {field: {"$lt": MAX_PER_OWNER}}]},
            {"$inc": {field: 1}},
        )
        if result.modified_count != 1:
            raise errors.conflict("too_many_templates", f"{kind.noun}最多保存 {MAX_PER_OWNER} 条，请先删除不用的")

    async def _give_slot(self, kind: _Kind, owner_id: ObjectId) -> None:
        await self.accounts.update_one({"_id": owner_id}, {"$inc": {f"template_counts.{kind.collection}": -1}})

    async def _make_default(self, collection: AsyncCollection[dict[str, Any]], owner_id: ObjectId, oid: ObjectId) -> None:
        """Clear the owner's other default, then set this one; the unique index refuses a second default."""
        for _ in range(_DEFAULT_TRIES):
            await collection.update_many(
                {"owner_id": owner_id, "is_default": True, "_id": {"$ne": oid}}, {"$set": {"is_default": False}}
            )
            try:
                result = await collection.update_one({"_id": oid, "owner_id": owner_id}, {"$set": {"is_default": True}})
            except DuplicateKeyError:
                continue  # another request set its default between our two steps: clear it again
            if result.matched_count == 0:
                raise errors.not_found("模板不存在")
            return
        raise errors.conflict("default_conflict", "默认模板正在被同时修改，请重试")

    async def _default_if_none(self, collection: AsyncCollection[dict[str, Any]], owner_id: ObjectId, oid: ObjectId) -> None:
        """Make ``oid`` the default only if the owner has none (losing that race is fine)."""
        if await collection.find_one({"owner_id": owner_id, "is_default": True}, {"_id": 1}) is None:
            try:
                await collection.update_one({"_id": oid}, {"$set": {"is_default": True}})
            except DuplicateKeyError:
                pass

    async def forget_owner(self, owner_id: ObjectId, *, session: AsyncClientSession | None) -> None:
        """Delete every address and invoice template of the owner, inside the caller's transaction."""
        for kind in (ADDRESS, INVOICE):
            await self.db[kind.collection].delete_many({"owner_id": owner_id}, session=session)

    async def _record(
        self, action: str, owner: Principal, subject_id: ObjectId, ip: str | None, details: dict[str, Any] | None = None
    ) -> None:
        # No subject text: templates hold a recipient's name and phone.
        await self.audit.record(action, actor_id=owner.account_id, actor_role=owner.role, subject_id=subject_id,
                                ip=ip, details=details)
