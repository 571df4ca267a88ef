"""The signed-in staff member's own account: choosing a new password (the only
page open after an admin's reset, server/security/auth.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from server.domain.errors import DomainError
from server.security import auth
from server.web.api.auth import PasswordChange
from server.web.errors import http_status
from server.web.forms import form_dict
from server.web.pages.auth import home_for
from server.web.render import render
from server.web.staff_account import change_own_password
from server.web.validation import describe

routes = web.RouteTableDef()


@routes.get(auth.PASSWORD_PAGE)
async def password_page(request: web.Request) -> web.Response:
    auth.current_staff(request)
    return render(request, "account/password.html", {"error": None})


@routes.post(auth.PASSWORD_PAGE)
async def password_submit(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    form = form_dict(await request.post())
    form.pop("csrf_token", None)
    response = web.HTTPFound(home_for(me))
    try:
        body = PasswordChange.model_validate(form)
        await change_own_password(request, me, body.current_password, body.new_password, response)
    except ValidationError as exc:
        message, _fields = describe(exc)
        return render(request, "account/password.html", {"error": message}, status=400)
    except DomainError as exc:
        context = {"error": None, "error_key": "account.password.wrong"} if exc.code == "wrong-password" else {"error": exc.message}
        return render(request, "account/password.html", context, status=http_status(exc))
    raise response
