"""The trainee's own data: profile, phone, ID photo, qualifications; trainee photos for others."""

from __future__ import annotations

from server.handlers.base import ANY_ROLE, PUBLIC, ApiHandler, Upload, endpoint
from server.models.common import OkOut
from server.models.profile import (
    PhoneChangeIn,
    PhotoForm,
    PhotoOut,
    PhotoUploadQuery,
    ProfileOptionsOut,
    ProfileOut,
    ProfileUpdate,
    QualificationCreate,
    QualificationList,
    QualificationOut,
)
from server.services.profile.photos import PHOTO_MAX_BYTES
from server.services.profile.profile import ProfileService
from server.services.profile.qualifications import IMAGE_MAX_BYTES

TAGS = ["profile"]
TRAINEE = ["trainee"]
JPEG = "image/jpeg"
# The limit applies to the whole upload (framing included), so that the 413 message
# names the round number people were told ("上限为 10 MB").
QUALIFICATION_BODY_BYTES = IMAGE_MAX_BYTES
PHOTO_BODY_BYTES = PHOTO_MAX_BYTES


class ProfileHandler(ApiHandler):
    """``/api/v1/me/profile``."""

    @endpoint("我的个人信息", response=ProfileOut, roles=TRAINEE, tags=TAGS)
    async def get(self) -> ProfileOut:
        """The caller's profile in full, with ``profile_complete`` and ``missing_fields``."""
        assert self.principal is not None
        return await self.services.profiles.get(self.principal)

    @endpoint("修改个人信息", body=ProfileUpdate, response=ProfileOut, roles=TRAINEE, tags=TAGS)
    async def put(self, body: ProfileUpdate) -> ProfileOut:
        """Replace the editable profile (ID type and number are not self-service)."""
        assert self.principal is not None
        return await self.services.profiles.update(self.principal, body, ip=self.client_ip)


class ProfileOptionsHandler(ApiHandler):
    """``/api/v1/profile/options``."""

    @endpoint("个人信息表单选项", response=ProfileOptionsOut, roles=PUBLIC, tags=TAGS)
    async def get(self) -> ProfileOptionsOut:
        """学历, 民族, 政治面貌, 院士/大师 and ID types, in display order."""
        return ProfileService.options()


class PhoneHandler(ApiHandler):
    """``/api/v1/me/phone``."""

    @endpoint("更换手机号", body=PhoneChangeIn, response=ProfileOut, roles=TRAINEE, tags=TAGS)
    async def put(self, body: PhoneChangeIn) -> ProfileOut:
        """Move to a new phone proven by a ``change_phone`` SMS code sent to it."""
        assert self.principal is not None
        return await self.services.profiles.change_phone(self.principal, body, ip=self.client_ip)


class MyPhotoHandler(ApiHandler):
    """``/api/v1/me/photo``."""

    @endpoint("我的证件照", roles=TRAINEE, tags=TAGS, produces=JPEG, errors=[404])
    async def get(self) -> None:
        """The caller's normalized 295x413 JPEG."""
        assert self.principal is not None
        self.write_inline(JPEG, await self.services.photos.read_own(self.principal))

    @endpoint("上传证件照（multipart 字段 photo + consent，或 image/jpeg、image/png 原始内容 + ?consent=true）",
              query=PhotoUploadQuery, response=PhotoOut, roles=TRAINEE, tags=TAGS,
              max_body_bytes=PHOTO_BODY_BYTES, errors=[400, 409, 413, 415, 422],
              upload=Upload(files=("photo",), fields=("consent",), raw=("image/jpeg", "image/png"), form=PhotoForm))
    async def put(self, query: PhotoUploadQuery) -> PhotoOut:
        """Normalize the picture into the ID photo; the first upload needs ``consent=true``."""
        assert self.principal is not None
        upload = self.uploaded_file("photo", raw_types=("image/jpeg", "image/png"))
        assert upload is not None
        consent = query.consent or (self.is_multipart() and self.parse_form(PhotoForm).consent)
        return await self.services.photos.upload(self.principal, upload[1], consent=consent, ip=self.client_ip)


class TraineePhotoHandler(ApiHandler):
    """``/api/v1/trainees/{trainee_id}/photo``."""

    @endpoint("学员证件照（协会工作人员；单位仅限本单位人员）", roles=ANY_ROLE, tags=TAGS,
              produces=JPEG, errors=[404])
    async def get(self, trainee_id: str) -> None:
        """A trainee's photo for someone allowed to see it; 404 for everyone else."""
        assert self.principal is not None
        self.write_inline(JPEG, await self.services.photos.read_for(self.principal, trainee_id))


class QualificationsHandler(ApiHandler):
    """``/api/v1/me/qualifications``."""

    @endpoint("我的执业资格证书", response=QualificationList, roles=TRAINEE, tags=TAGS)
    async def get(self) -> QualificationList:
        """The caller's licences, oldest first."""
        assert self.principal is not None
        return await self.services.qualifications.list(self.principal)

    @endpoint("添加执业资格证书（multipart：type、number、可选 image；或 JSON 不带图片）",
              response=QualificationOut, status=201, roles=TRAINEE, tags=TAGS,
              max_body_bytes=QUALIFICATION_BODY_BYTES, errors=[400, 409, 413, 415, 422],
              upload=Upload(files=("image",), fields=("type", "number"), form=QualificationCreate))
    async def post(self) -> QualificationOut:
        """Add a licence with an optional JPEG/PNG image (re-encoded without metadata)."""
        assert self.principal is not None
        image = None
        if self.is_multipart():
            body = self.parse_form(QualificationCreate)
            upload = self.uploaded_file("image", required=False)
            image = upload[1] if upload else None
        else:
            body = self.parse_json_body(QualificationCreate)
        return await self.services.qualifications.add(self.principal, body, image, ip=self.client_ip)


class QualificationHandler(ApiHandler):
    """``/api/v1/me/qualifications/{qualification_id}``."""

    @endpoint("删除执业资格证书", response=OkOut, roles=TRAINEE, tags=TAGS, errors=[404])
    async def delete(self, qualification_id: str) -> OkOut:
        """Delete one of the caller's licences and its image."""
        assert self.principal is not None
        await self.services.qualifications.delete(self.principal, qualification_id, ip=self.client_ip)
        return OkOut()


class QualificationImageHandler(ApiHandler):
    """``/api/v1/me/qualifications/{qualification_id}/image``."""

    @endpoint("执业资格证书图片", roles=TRAINEE, tags=TAGS, produces=JPEG, errors=[404])
    async def get(self, qualification_id: str) -> None:
        """The JPEG of one of the caller's licences."""
        assert self.principal is not None
        self.write_inline(JPEG, await self.services.qualifications.image(self.principal, qualification_id))


routes = [
    (r"/api/v1/me/profile", ProfileHandler),
    (r"/api/v1/profile/options", ProfileOptionsHandler),
    (r"/api/v1/me/phone", PhoneHandler),
    (r"/api/v1/me/photo", MyPhotoHandler),
    (r"/api/v1/trainees/(?P<trainee_id>[^/]+)/photo", TraineePhotoHandler),
    (r"/api/v1/me/qualifications", QualificationsHandler),
    (r"/api/v1/me/qualifications/(?P<qualification_id>[^/]+)", QualificationHandler),
    (r"/api/v1/me/qualifications/(?P<qualification_id>[^/]+)/image", QualificationImageHandler),
]
