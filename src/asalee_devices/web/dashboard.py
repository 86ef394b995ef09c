"""The practice's monthly dashboard page ("Tableau de bord"): the figures of ``programme.dashboard`` as JSON for
``static/dashboard.js`` (tables and canvas charts drawn by the page), and the same month's PDF."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from asalee_devices.errors import AsaleeError
from asalee_devices.web.errors import ApiError
from asalee_devices.web.state import web


def _dashboard(request: Request) -> Any:
    from asalee_devices.programme.dashboard import dashboard_for

    state = web(request)
    month = request.query_params.get("month") or None
    try:
        return dashboard_for(state.settings.config, month=month)
    except AsaleeError as exc:
        raise ApiError(400, "bad_month", exc.message, field="month") from None


async def dashboard(request: Request) -> Response:
    d = await asyncio.to_thread(_dashboard, request)
    return JSONResponse({"dashboard": d.view(web(request).lang)})


async def dashboard_pdf(request: Request) -> Response:
    from asalee_devices.reports.dashboard_pdf import render_dashboard_pdf

    d = await asyncio.to_thread(_dashboard, request)
    lang = "en" if web(request).lang == "en" else "fr"
    pdf = await asyncio.to_thread(render_dashboard_pdf, d, lang)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="tableau-de-bord-{d.month}.pdf"'})


ROUTES: tuple[tuple[str, Any, list[str]], ...] = (
    ("/api/dashboard", dashboard, ["GET"]),
    ("/api/dashboard.pdf", dashboard_pdf, ["GET"]),
)
