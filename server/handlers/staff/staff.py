"""A unit's staff (manual §3.3): list, add one, bind, edit, unbind, photo, export, Excel import."""

from __future__ import annotations

from server.documents.xlsx_common import XLSX_CONTENT_TYPE
from server.handlers.base import ApiHandler, Endpoint, Upload, endpoint
from server.handlers.staff import photos as staff_photos
from server.models.common import OkOut
from server.models.profile import PhotoOut, PhotoUploadQuery, ProfileOut
from server.models.staff import (
    BindIn,
    ImportCommitOut,
    ImportOut,
    StaffCreate,
    StaffCreatedOut,
    StaffItem,
    StaffListQuery,
    StaffPage,
    StaffPhotoForm,
    StaffUpdate,
)
from server.services.profile.photos import PHOTO_MAX_BYTES

TAGS = ["unit-staff"]
UNIT = ["unit"]
MULTIPART_SLACK = 64 * 1024


class StaffListHandler(ApiHandler):
    """``/api/v1/unit/staff``."""

    @endpoint("单位人员列表（按姓名、身份证号、手机号、职务查询）", query=StaffListQuery, response=StaffPage,
              roles=UNIT, tags=TAGS)
    async def get(self, query: StaffListQuery) -> StaffPage:
        """The unit's staff, searched and paged, personal data masked."""
        assert self.principal is not None
        return await self.services.staff.list(self.principal, query)

    @endpoint("单独添加学员（创建待激活账号并绑定本单位）", body=StaffCreate, response=StaffCreatedOut, status=201,
              roles=UNIT, tags=TAGS, errors=[409, 422])
    async def post(self, body: StaffCreate) -> StaffCreatedOut:
        """Create the person's pending account bound to the unit; the one-time secret is shown once."""
        assert self.principal is not None
        return await self.services.staff.add(self.principal, body, ip=self.client_ip)


class StaffBindHandler(ApiHandler):
    """``/api/v1/unit/staff/bind``."""

    @endpoint("绑定已注册学员（姓名 + 身份证号）", body=BindIn, response=StaffItem, roles=UNIT, tags=TAGS,
              errors=[404, 409, 429])
    async def post(self, body: BindIn) -> StaffItem:
        """Bind a registered trainee to the unit (404 unless name and number both match)."""
        assert self.principal is not None
        return await self.services.staff.bind(self.principal, body, ip=self.client_ip)


class StaffHandler(ApiHandler):
    """``/api/v1/unit/staff/{trainee_id}``."""

    @endpoint("单位人员详情（证件号、手机号脱敏）", response=ProfileOut, roles=UNIT, tags=TAGS, errors=[404])
    async def get(self, trainee_id: str) -> ProfileOut:
        """One person of the unit's staff, for the edit form."""
        assert self.principal is not None
        return await self.services.staff.detail(self.principal, trainee_id)

    @endpoint("编辑单位人员（证件类型、号码和手机号不可修改；姓名、性别、出生日期仅限本单位创建且未激活的账号）",
              body=StaffUpdate, response=StaffItem, roles=UNIT, tags=TAGS, errors=[404, 422])
    async def put(self, trainee_id: str, body: StaffUpdate) -> StaffItem:
        """Replace the profile fields a unit may edit (identity only on its own pending accounts)."""
        assert self.principal is not None
        return await self.services.staff.update(self.principal, trainee_id, body, ip=self.client_ip)

    @endpoint("解绑单位人员（学员保留账号）", response=OkOut, roles=UNIT, tags=TAGS, errors=[404])
    async def delete(self, trainee_id: str) -> OkOut:
        """Remove the person from the unit's staff."""
        assert self.principal is not None
        await self.services.staff.unbind(self.principal, trainee_id, ip=self.client_ip)
        return OkOut()


class StaffPhotoHandler(ApiHandler):
    """``/api/v1/unit/staff/{trainee_id}/photo``."""

    @endpoint("上传单位人员证件照（multipart 字段 photo + consent，或图片原始内容 + ?consent=true）",
              query=PhotoUploadQuery, response=PhotoOut, roles=UNIT, tags=TAGS,
              max_body_bytes=PHOTO_MAX_BYTES + MULTIPART_SLACK, errors=[404, 413, 415, 422],
              upload=Upload(files=("photo",), fields=("consent",), raw=("image/jpeg", "image/png"),
                            form=StaffPhotoForm))
    async def put(self, trainee_id: str, query: PhotoUploadQuery) -> PhotoOut:
        """Normalize the picture into the person's ID photo (the unit confirms the person's consent)."""
        assert self.principal is not None
        upload = self.uploaded_file("photo", raw_types=("image/jpeg", "image/png"))
        assert upload is not None
        consent = query.consent or (self.is_multipart() and self.parse_form(StaffPhotoForm).consent)
        return await self.services.staff.set_photo(self.principal, trainee_id, upload[1], consent=consent,
                                                   ip=self.client_ip)


class StaffExportHandler(ApiHandler):
    """``/api/v1/unit/staff/export.xlsx``."""

    @endpoint("导出单位人员（完整信息，访问记入审计日志）", roles=UNIT, tags=TAGS, produces=XLSX_CONTENT_TYPE)
    async def get(self) -> None:
        """The unit's staff as an Excel sheet."""
        assert self.principal is not None
        self.write_file(*await self.services.staff.export(self.principal, ip=self.client_ip))


class ImportTemplateHandler(ApiHandler):
    """``/api/v1/unit/staff/import-template.xlsx``."""

    @endpoint("下载批量导入模板", roles=UNIT, tags=TAGS, produces=XLSX_CONTENT_TYPE)
    async def get(self) -> None:
        """The Excel template: required columns marked *, drop-downs, an example row, 说明."""
        self.write_file(*await self.services.staff_imports.template())


class ImportsHandler(ApiHandler):
    """``/api/v1/unit/staff/imports``."""

    def body_limit(self, spec: Endpoint | None) -> int:
        """The sheet's own setting, plus room for the multipart envelope."""
        return self.config.import_max_bytes + MULTIPART_SLACK

    @endpoint("批量导入：上传 Excel 预检（multipart 字段 file，或 xlsx 原始内容）", response=ImportOut,
              status=201, roles=UNIT, tags=TAGS,
              errors=[413, 415, 422], upload=Upload(files=("file",), raw=(XLSX_CONTENT_TYPE,)))
    async def post(self) -> ImportOut:
        """Check every row (nothing is imported yet): ok, error with per-field messages, or exists."""
        assert self.principal is not None
        upload = self.uploaded_file("file", raw_types=(XLSX_CONTENT_TYPE, "application/octet-stream"))
        assert upload is not None
        return await self.services.staff_imports.dry_run(self.principal, upload[1], ip=self.client_ip)


class ImportCommitHandler(ApiHandler):
    """``/api/v1/unit/staff/imports/{import_id}/commit``."""

    @endpoint("批量导入：确认导入（全部成功或全部不导入）", response=ImportCommitOut, roles=UNIT, tags=TAGS,
              errors=[404, 409])
    async def post(self, import_id: str) -> ImportCommitOut:
        """Create every good row of the dry run, or none; the one-time secrets are shown here."""
        assert self.principal is not None
        return await self.services.staff_imports.commit(self.principal, import_id, ip=self.client_ip)


class ImportResultHandler(ApiHandler):
    """``/api/v1/unit/staff/imports/{import_id}/result.xlsx``."""

    @endpoint("批量导入结果表（导入后首次下载含一次性密码）", roles=UNIT, tags=TAGS,
              produces=XLSX_CONTENT_TYPE, errors=[404])
    async def get(self, import_id: str) -> None:
        """Every row's verdict; the first download after the commit carries the one-time secrets."""
        assert self.principal is not None
        self.write_file(*await self.services.staff_imports.result_sheet(self.principal, import_id))


routes = [
    (r"/api/v1/unit/staff", StaffListHandler),
    (r"/api/v1/unit/staff/bind", StaffBindHandler),
    (r"/api/v1/unit/staff/export\.xlsx", StaffExportHandler),
    (r"/api/v1/unit/staff/import-template\.xlsx", ImportTemplateHandler),
    (r"/api/v1/unit/staff/imports", ImportsHandler),
    (r"/api/v1/unit/staff/imports/(?P<import_id>[^/]+)/commit", ImportCommitHandler),
    (r"/api/v1/unit/staff/imports/(?P<import_id>[^/]+)/result\.xlsx", ImportResultHandler),
]
# The bulk photo paths must match before the generic ``{trainee_id}`` ones.
routes += staff_photos.routes
routes += [
    (r"/api/v1/unit/staff/(?P<trainee_id>[^/]+)/photo", StaffPhotoHandler),
    (r"/api/v1/unit/staff/(?P<trainee_id>[^/]+)", StaffHandler),
]
