"""A /predict body -> raw records: JSON for every model, multipart uploads for image models.

JSON is validated against the checkpoint's record model (schemas.request_body), exactly as the
typed route does. A multipart form is one record: the image field is a file, the other fields
are form values, converted to the record model's types and then validated by the same model.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from raylight.preprocessing.transforms import FittedPreprocessing
from raylight.serving.schemas import input_kinds

MULTIPART = "multipart/form-data"


class BodyReader:
    """Reads one request's records for the checkpoint's inputs."""

    def __init__(self, body_model: Any, preprocessing: FittedPreprocessing) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(body_model)
        self.kinds = input_kinds(preprocessing)
        self.image_field = preprocessing.image.column if preprocessing.image else None

    async def records(self, request: Request) -> list[dict[str, Any]]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == MULTIPART and self.image_field:
            return [await self._form_record(request)]
        if content_type not in ("application/json", ""):
            accepted = "application/json" + (f" or {MULTIPART}" if self.image_field else "")
            raise HTTPException(415, f"content type {content_type!r}; send {accepted}")
        return self._validated(await request.body(), json=True)

    def _validated(self, body: Any, json: bool) -> list[dict[str, Any]]:
        try:
            parsed = (
                self.adapter.validate_json(body) if json else self.adapter.validate_python(body)
            )
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_input=False)) from None
        records = parsed if isinstance(parsed, list) else [parsed]
        return [record.model_dump(by_alias=True) for record in records]

    async def _form_record(self, request: Request) -> dict[str, Any]:
        """One record from a form: the image file's bytes; numbers and ids parsed from text."""
        form = await request.form(max_files=1, max_fields=len(self.kinds) + 1)
        unknown = [name for name in form if name not in self.kinds]
        if unknown:
            raise _invalid(
                unknown[0],
                f"not an input of this model; the fields are {', '.join(self.kinds)}",
                "extra_forbidden",
            )
        record: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            value = form.get(name)
            if value is None:
                continue  # the record model reports it missing
            if kind == "image":
                if isinstance(value, str):
                    raise _invalid(name, "must be a file upload (curl -F image=@file.png)")
                # The record model holds base64 text, as a JSON body would; the predictor
                # decodes it again. Cheap next to decoding the image itself.
                record[name] = base64.b64encode(await value.read()).decode()
            elif isinstance(value, str):
                record[name] = _form_value(value, kind)
            else:
                raise _invalid(name, f"must be a form value ({kind}), not a file")
        return self._validated(record, json=False)[0]


def _form_value(text: str, kind: str) -> Any:
    """A form field's text as the record model's type: numbers parse; ids stay text or int."""
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text  # the record model refuses it with the field's name
    if kind == "id" and text.lstrip("-").isdigit():
        return int(text)
    return text


def _invalid(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ["body", field], "msg": message, "type": kind}])


def openapi_body(body_model: Any, preprocessing: FittedPreprocessing) -> dict[str, Any]:
    """The requestBody for /docs: the JSON record schema, and a form for an image model."""
    schema = TypeAdapter(body_model).json_schema(ref_template="#/components/schemas/{model}")
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if preprocessing.image:
        kinds = input_kinds(preprocessing)
        properties = {
            name: (
                {"type": "string", "format": "binary"}
                if kind == "image"
                else {"type": "number" if kind == "number" else "string"}
            )
            for name, kind in kinds.items()
        }
        content[MULTIPART] = {
            "schema": {"type": "object", "properties": properties, "required": list(kinds)}
        }
    return {"requestBody": {"required": True, "content": content}}
