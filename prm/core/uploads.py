"""A multipart upload read as a stream: its file spooled to a temporary file (on disk past 1 MiB),
its small fields kept as text, the body's size capped as it arrives.

Litestar's own form parsing holds the whole body in memory, then a copy per part; a route that
takes large files reads the stream itself (and is marked STREAMED_BODY so no hook reads the
body before it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import IO, Any

from litestar import Request
from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File

from prm.core.errors import DomainError
from prm.core.nul import NUL

_SPOOL_BYTES = 1024 * 1024
_MAX_FIELD_BYTES = 64 * 1024


class TooLarge(DomainError):
    status_code = 413
    title = "Content too large"
    type_slug = "too-large"


class BadUpload(DomainError):
    status_code = 400
    title = "Bad request"
    type_slug = "validation"


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, IO[bytes]]] = field(default_factory=dict)  # name -> (file name, content)

    def close(self) -> None:
        for _, content in self.files.values():
            content.close()


async def read_multipart(request: Request[Any, Any, Any], *, max_bytes: int) -> Upload:
    """The form's fields and files; TooLarge (413) past `max_bytes` of body, before reading it
    when Content-Length already says so."""
    limit = f"The upload is larger than {max_bytes:,} bytes (PRM_MAX_IMPORT_BYTES); split the file."
    if (request.content_length or 0) > max_bytes:
        raise TooLarge(limit, field="file")
    upload = Upload()
    parser = _parser(request, upload)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(limit, field="file")
            parser.write(chunk)
            # uvicorn hands over chunks already received without suspending: without this, a fast
            # client's whole upload is parsed in one go while /health and every other request wait.
            await asyncio.sleep(0)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        upload.close()
        raise BadUpload(f"The body is not a readable multipart form: {exc}.", field="file") from exc
    except TooLarge:
        upload.close()
        raise
    return upload


def _parser(request: Request[Any, Any, Any], upload: Upload) -> Any:
    def on_field(part: Field) -> None:
        name = (part.field_name or b"").decode("utf-8", "replace")
        value = (part.value or b"").decode("utf-8", "replace")
        if len(value) > _MAX_FIELD_BYTES or NUL in value or NUL in name:
            raise ValueError(f"the field {name!r} is too long or holds a NUL character")
        upload.fields[name] = value

    def on_file(part: File) -> None:
        name = (part.field_name or b"").decode("utf-8", "replace")
        content = part.file_object
        content.seek(0)
        upload.files[name] = ((part.file_name or b"").decode("utf-8", "replace"), content)

    headers = {"Content-Type": request.headers.get("content-type", "").encode("latin-1")}
    return create_form_parser(headers, on_field, on_file, config={"MAX_MEMORY_FILE_SIZE": _SPOOL_BYTES})
