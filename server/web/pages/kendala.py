"""The PK's answer to a kendala, from the form on the client's record page
(``/clients/{id}``, section "Kendala"). The list itself is rendered there."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from server.db.models import Kendala
from server.domain.errors import DomainError, ErrorKind, not_found
from server.keys import db_key
from server.security import auth
from server.web.api.kendala import KendalaAnswer, answer_kendala
from server.web.errors import http_status
from server.web.forms import form_dict
from server.web.pages.clients import client_record_context
from server.web.render import error_text, gettext_for, render
from server.web.validation import int_param, page_errors

routes = web.RouteTableDef()


@routes.post("/kendala/{id}/answer")
async def answer_kendala_form(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    kendala_id = int_param(request, "id")
    form = form_dict(await request.post())
    # Two buttons share one form: "Terima" keeps the proposed time, "Tolak" ignores it.
    if form.get("status") == "declined":
        form.pop("new_scheduled_at", None)
    try:
        body = KendalaAnswer.model_validate(form)
        _data, client_id = await answer_kendala(request, staff, kendala_id, body)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.kind in (ErrorKind.forbidden, ErrorKind.not_found):
            raise
        message = "; ".join(page_errors(exc, gettext_for(request)).values()) if isinstance(exc, ValidationError) else error_text(request, exc)
        status = 400 if isinstance(exc, ValidationError) else http_status(exc)
        async with request.app[db_key]() as db:
            kendala = await db.get(Kendala, kendala_id)
        if kendala is None:
            raise not_found("kendala") from None
        ctx = await client_record_context(request, staff, kendala.client_id)
        ctx["kendala_errors"] = {kendala_id: message}
        ctx["kendala_form"] = {kendala_id: form}
        return render(request, "clients/client.html", ctx, status=status)
    raise web.HTTPFound(f"/clients/{client_id}#kendala")
