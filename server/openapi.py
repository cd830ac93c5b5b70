"""The OpenAPI 3.1 document, generated from the routes and their ``@endpoint`` declarations.

Nothing here is written by hand per endpoint: paths come from the route
patterns, bodies and responses from the pydantic models, security from the
declared roles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.handlers.base import Endpoint, Upload

_METHODS = ("get", "post", "put", "patch", "delete")
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^)]*)\)")
# Outside its named groups a route is a literal path: escapes (``\.``) are unescaped, and
# any other regex syntax (``[``, ``*``, ``|``…) cannot be a documented path, so it is refused.
_LITERAL = re.compile(r"\\(?P<escaped>.)|(?P<meta>[][()*+?{}|^$])")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "stable English code"},
                "message": {"type": "string", "description": "Chinese message for people"},
                "details": {"type": "object"},
            },
        }
    },
}

_STATUS_TEXT = {
    400: "请求格式错误", 401: "未登录或登录已失效", 403: "无权操作", 404: "不存在",
    409: "与当前状态冲突", 413: "内容过大", 415: "不支持的类型", 422: "字段校验失败",
    429: "操作过于频繁", 503: "服务暂不可用",
}


def route_path(pattern: str) -> str:
    """The OpenAPI path of a route: ``/sessions/(?P<session_id>[^/]+)`` → ``/sessions/{session_id}``.

    ``export\\.xlsx`` becomes ``export.xlsx`` (the URL a client must call); a pattern
    with regex syntax outside its named groups has no single path and raises ``ValueError``.
    """
    body = pattern.removeprefix("^").removesuffix("$")
    pieces: list[str] = []
    position = 0
    for group in _GROUP.finditer(body):
        pieces.append(_literal(body[position:group.start()], pattern))
        pieces.append("{" + group.group("name") + "}")
        position = group.end()
    pieces.append(_literal(body[position:], pattern))
    return "".join(pieces)


def path_parameters(pattern: str) -> dict[str, str]:
    """The named groups of a route and their regexes (``{"session_id": "[^/]+"}``)."""
    return {m.group("name"): m.group("regex") for m in _GROUP.finditer(pattern)}


def _literal(text: str, pattern: str) -> str:
    def unescape(match: re.Match[str]) -> str:
        if match.group("meta") is not None:
            raise ValueError(f"route {pattern!r}: regex syntax {match.group('meta')!r} outside a named group")
        escaped = match.group("escaped")
        if escaped.isalnum():  # \d, \w, \s… are classes, not characters
            raise ValueError(f"route {pattern!r}: character class \\{escaped} outside a named group")
        return escaped

    return _LITERAL.sub(unescape, text)


def build_openapi(routes: Iterable[tuple[Any, ...]], *, title: str, version: str) -> dict[str, Any]:
    """The whole document for ``routes`` (tuples of pattern, handler class[, kwargs])."""
    operations = list(_operations(routes))
    refs, schemas = _component_schemas(_models(spec for _, _, _, spec in operations))
    paths: dict[str, dict[str, Any]] = {}
    for pattern, method, handler, spec in operations:
        paths.setdefault(route_path(pattern), {})[method] = _operation(pattern, method, handler, spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {**schemas, "Error": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operations(routes: Iterable[tuple[Any, ...]]) -> Iterable[tuple[str, str, type, Endpoint]]:
    for route in routes:
        pattern, handler = route[0], route[1]
        for method in _METHODS:
            spec = getattr(getattr(handler, method, None), "__endpoint__", None)
            if isinstance(spec, Endpoint):
                yield pattern, method, handler, spec


def _models(specs: Iterable[Endpoint]) -> list[tuple[type[BaseModel], str]]:
    seen: dict[tuple[type[BaseModel], str], None] = {}
    for spec in specs:
        if spec.body is not None:
            seen[(spec.body, "validation")] = None
        if spec.query is not None:  # its enums and nested models land in the components
            seen[(spec.query, "validation")] = None
        if spec.response is not None:
            seen[(spec.response, "serialization")] = None
    return list(seen)


Refs = dict[tuple[type[BaseModel], str], dict[str, Any]]


def _component_schemas(models: list[tuple[type[BaseModel], str]]) -> tuple[Refs, dict[str, Any]]:
    """A ``$ref`` per (model, mode) and the shared definitions (pydantic names them).

    Request bodies are in pydantic's validation mode, answers in serialization mode; where the two
    differ pydantic names them ``…-Input`` / ``…-Output``. Then what a default means is made explicit
    for clients' generated types (openapi-typescript takes a property with a ``default`` for one that
    is always there): in an answer, a field with a default is always sent, so it is ``required``; in a
    request, a field with a default may be left out, so its default goes into the description only.
    A definition used by both sides keeps pydantic's form.
    """
    if not models:
        return {}, {}
    refs, top = models_json_schema(models, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    defs = dict(top.get("$defs", {}))
    requests = _reachable([ref for (_, mode), ref in refs.items() if mode == "validation"], defs)
    answers = _reachable([ref for (_, mode), ref in refs.items() if mode == "serialization"], defs)
    for name in requests - answers:
        _defaults_optional(defs[name])
    for name in answers - requests:
        _defaults_required(defs[name])
    return dict(refs), defs


_PREFIX = "#/components/schemas/"


def _reachable(roots: Iterable[Any], defs: dict[str, Any]) -> set[str]:
    """The names of the definitions ``roots`` refer to, directly or through others."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_PREFIX) and ref[len(_PREFIX):] not in seen:
                name = ref[len(_PREFIX):]
                seen.add(name)
                todo.append(defs.get(name))
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return seen


def _defaults_optional(schema: dict[str, Any]) -> None:
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        if name not in required and isinstance(prop, dict) and "default" in prop:
            default = prop.pop("default")
            shown = json.dumps(default, ensure_ascii=False)
            prop["description"] = f"{prop.get('description', '')}（可省略，默认 {shown}）".lstrip()


def _defaults_required(schema: dict[str, Any]) -> None:
    props = schema.get("properties") or {}
    required = list(schema.get("required", []))
    required += [name for name, prop in props.items()
                 if name not in required and isinstance(prop, dict) and "default" in prop]
    if required:
        schema["required"] = required


def _operation(pattern: str, method: str, handler: type, spec: Endpoint, refs: Refs) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{handler.__name__}.{method}",
        "summary": spec.summary,
        "tags": list(spec.tags),
        "parameters": _parameters(pattern, spec),
        "responses": _responses(spec, refs, has_path_id=bool(path_parameters(pattern))),
    }
    if spec.roles is not None:
        operation["security"] = [{"bearerAuth": []}]
        if spec.roles:
            operation["description"] = "角色：" + ", ".join(sorted(spec.roles))
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(spec.body, "validation")]}},
        }
    elif spec.upload is not None:
        operation["requestBody"] = _upload_body(spec.upload)
    return operation


def _upload_body(upload: Upload) -> dict[str, Any]:
    """multipart/form-data with the file and text fields, plus any accepted raw body types."""
    properties: dict[str, Any] = {name: {"type": "string", "format": "binary"} for name in upload.files}
    form = upload.form.model_json_schema() if upload.form is not None else {}
    for name in upload.fields:  # typed as the form model parses them (a bool is "true"/"false")
        prop = form.get("properties", {}).get(name, {"type": "string"})
        properties[name] = {k: v for k, v in prop.items() if k != "title"}
    required = [name for name in form.get("required", []) if name in upload.fields]
    schema: dict[str, Any] = {"type": "object", "properties": properties, **({"required": required} if required else {})}
    content: dict[str, Any] = {"multipart/form-data": {"schema": schema}}
    for media_type in upload.raw:
        content[media_type] = {"schema": {"type": "string", "format": "binary"}}
    return {"required": True, "content": content}


def _parameters(pattern: str, spec: Endpoint) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": f"^{regex}$"}}
        for name, regex in path_parameters(pattern).items()
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template="#/components/schemas/{model}")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _responses(spec: Endpoint, refs: Refs, *, has_path_id: bool) -> dict[str, Any]:
    """The success answer and every error status the declaration implies.

    Derived, so that no endpoint forgets one: a login → 401 (and 403 with roles or a
    restricted token); a JSON body or upload → 400/413/415/422; a query → 422; an id in
    the path → 404; every endpoint → 503 (the database unreachable, or a bounded worker pool
    full: both with Retry-After); plus the statuses the endpoint declares (conflicts, throttles).
    """
    if spec.produces:
        ok: dict[str, Any] = {
            "description": "文件",
            "content": {spec.produces: {"schema": {"type": "string", "format": "binary"}}},
        }
    elif spec.response is not None:
        schema = refs[(spec.response, "serialization")]
        ok = {"description": "成功", "content": {"application/json": {"schema": schema}}}
    else:
        ok = {"description": "成功"}
    responses: dict[str, Any] = {str(spec.status): ok}
    statuses = set(spec.errors) | {503}
    if spec.roles is not None:
        statuses |= {401, 403}  # 403 also for a restricted (password-change) token
    if spec.body is not None or spec.upload is not None:
        statuses |= {400, 413, 415, 422}
    if spec.query is not None:
        statuses.add(422)
    if has_path_id:
        statuses.add(404)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "错误"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses
