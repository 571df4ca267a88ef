"""The duty table (issue 23): every route of the app, API and pages, against
every role, and what each is answered: allowed (``ok``) or the exact refusal.
tests/test_duty_table.py walks it against the running server, one role per
test on a database of its own, and fails when the router has a route with no
row here (or a row names a route the router no longer has).

Roles:
- ``anonymous``: nobody.
- ``client``: the client's join pass (``bimbing_join``) for a video session of
  ``c10``, one of pk1's clients, as the join link leaves it.
- ``portal``: the client's personal link (``bimbing_portal``) of ``c1`` (pk1's).
- ``pk_owner``: pk1, who owns the clients and sessions the rows name and is on
  duty at the mobile-counseling days ``e1``, ``e2``, ``e2p``, ``e3``.
- ``other_pk``: pk2 of the same office, owner of c2 and c3, on duty nowhere.
- ``supervisor``: the office's Kasie.
- ``admin``: the office's admin: accounts and settings, never guidance
  (403 ``no-guidance-role``).
- ``other_office``: the Kasie of another office.
There is no guest link in Bimbing: a client's two links are the join link and
the personal link, both roles above.

A cell is ``ok`` (a 2xx, or a redirect that is not to the sign-in page),
``login`` (a page's redirect to /login), or ``STATUS code``: the JSON's
``error`` on the API, the refusal page's ``data-error`` on pages, ``-`` for a
body with neither. Short forms: ``401`` is ``401 unauthenticated``, ``404`` is
``404 not-found``, ``G`` is ``403 no-guidance-role``.

Paths name the seeded things in braces (tests/test_duty_table.py, ``seed``);
``{me}`` is the signed-in staff member's id, ``{role}`` and ``{tag}`` the
role's name (so that a name or number each role creates is its own).

Some cells say less than others, and why:
- ``sign out by form`` is ``login`` for everyone: signed out, a staff member is
  sent to the sign-in page too (tests/test_auth.py checks the session dies).
- ``metrics`` is 404 for everyone: /metrics answers only with
  ``BIMBING_METRICS_TOKEN`` set or from its allowed addresses (tests/test_metrics.py).
- ``call socket (no upgrade)`` is 400 for everyone: a plain GET is no WebSocket;
  the socket's own refusals per role are tests/test_signaling_refusals.py's.
- ``recording`` is a ready recording whose file is missing: past the gate it
  is 409 ``recording-unreadable``, before it 404.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("anonymous", "client", "portal", "pk_owner", "other_pk", "supervisor", "admin", "other_office")
STAFF_ROLES = {"pk_owner": "pk1", "other_pk": "pk2", "supervisor": "kasie", "admin": "admin", "other_office": "x_kasie"}
SHORT = {"401": "401 unauthenticated", "404": "404 not-found", "G": "403 no-guidance-role"}


@dataclass(frozen=True)
class Duty:
    label: str
    method: str
    route: str  # as the router names it
    path: str = ""  # with the seeded ids in braces; the route itself when empty
    body: dict | None = None
    send: str = "json"  # json | form (a page's form, with its CSRF token) | multipart
    fresh: bool = False  # the row ends the sign-in (logout): a sign-in of its own

    @property
    def target(self) -> str:
        return self.path or self.route


J, F = "json", "form"
NEW_CLIENT = {"name": "Klien Tugas", "register_number": "DUTY-{tag}", "program": "PB", "supervision_start": "2020-01-06",
              "supervision_end": "2099-12-31", "reporting_interval_days": 14, "kelurahan": "Tugu Utara", "officer_id": "{pk1}"}
NEW_DAY = {"date": "{in_days_5}", "start_time": "08:00", "end_time": "12:00", "kelurahan": "Tugu Utara", "venue": "Balai Warga",
           "officer_ids": ["{pk1}"], "topic": ""}
NEW_STAFF = {"username": "duty.{role}", "name": "Staf Tugas", "role": "pk", "password": "kata sandi yang panjang"}
# Rows that would cost an Argon2 hash per role stop at the body's check instead
# (a new password too short, an empty password): the route's gate is what counts
# here; tests/test_auth.py signs in and changes passwords for real.
SHORT_PASSWORD = {"current_password": "bukan kata sandinya", "new_password": "pendek"}

ROWS: list[Duty] = [
    # --- the API -------------------------------------------------------------
    Duty("me", "GET", "/api/me"),
    Duty("sign in (empty password)", "POST", "/api/login", body={"username": "pk1", "password": ""}),
    Duty("sign out", "POST", "/api/logout", fresh=True),
    Duty("change own password (too short)", "POST", "/api/me/password", body=SHORT_PASSWORD, fresh=True),
    Duty("openapi", "GET", "/api/openapi.json"),
    Duty("areas", "GET", "/api/areas"),
    Duty("unmatched clients", "GET", "/api/areas/unmatched"),
    Duty("audit anomalies", "GET", "/api/audit/anomalies"),
    Duty("audit clients", "GET", "/api/audit/clients"),
    Duty("audit officers", "GET", "/api/audit/officers"),
    Duty("audit sessions", "GET", "/api/audit/sessions"),
    Duty("audit trail", "GET", "/api/audit/trail"),
    Duty("audit verify", "GET", "/api/audit/verify"),
    Duty("list clients", "GET", "/api/clients"),
    Duty("add client", "POST", "/api/clients", body=NEW_CLIENT),
    Duty("read client", "GET", "/api/clients/{id}", "/api/clients/{c1}"),
    Duty("client's kendala", "GET", "/api/clients/{id}/kendala", "/api/clients/{c1}/kendala"),
    Duty("client's letters", "GET", "/api/clients/{id}/letters", "/api/clients/{c1}/letters"),
    Duty("issue letter", "POST", "/api/clients/{id}/letters", "/api/clients/{c1}/letters", {"kind": "keterangan"}),
    Duty("revoke letter", "DELETE", "/api/letters/{id}", "/api/letters/{letter_api}"),
    Duty("issue portal link", "POST", "/api/clients/{id}/portal-link", "/api/clients/{c5}/portal-link"),
    Duty("revoke portal link", "DELETE", "/api/clients/{id}/portal-link", "/api/clients/{c5}/portal-link"),
    Duty("client record", "GET", "/api/clients/{id}/record", "/api/clients/{c1}/record"),
    Duty("home-visit day", "GET", "/api/home-visits"),
    Duty("plan home visit", "POST", "/api/home-visits", body={"client_id": "{c1}", "date": "{in_days_2}", "reason": "overdue"}),
    Duty("client: own kendala", "GET", "/api/join/kendala"),
    Duty("client: report kendala", "POST", "/api/join/kendala", body={"kind": "illness", "message": "Demam."}),
    Duty("answer kendala", "POST", "/api/kendala/{id}/answer", "/api/kendala/{kendala_api}/answer", {"status": "declined", "reply": "Tidak bisa."}),
    Duty("list days", "GET", "/api/mobile-events"),
    Duty("plan a day", "POST", "/api/mobile-events", body=NEW_DAY),
    Duty("read cadence", "GET", "/api/mobile-events/cadence"),
    Duty("change cadence", "PUT", "/api/mobile-events/cadence", body={"anchor": "{saturday}", "every_days": 14}),
    Duty("planner", "GET", "/api/mobile-events/plan"),
    Duty("read day", "GET", "/api/mobile-events/{id}", "/api/mobile-events/{e1}"),
    Duty("change day's topic", "PATCH", "/api/mobile-events/{id}", "/api/mobile-events/{e3}", {"topic": "Keterampilan kerja"}),
    # Issue 23, item 2: only a supervisor assigns duty; a PK not on duty changes nothing.
    Duty("put oneself on duty", "PATCH", "/api/mobile-events/{id}", "/api/mobile-events/{e3}", {"officer_ids": ["{pk1}", "{me}"]}),
    Duty("add another PK to duty", "PATCH", "/api/mobile-events/{id}", "/api/mobile-events/{e4}", {"officer_ids": ["{pk1}", "{pk2}"]}),
    Duty("cancel day", "POST", "/api/mobile-events/{id}/cancel", "/api/mobile-events/{e2}/cancel"),
    Duty("roster", "GET", "/api/mobile-events/{id}/roster", "/api/mobile-events/{e1}/roster"),
    Duty("check in", "POST", "/api/mobile-events/{id}/checkins", "/api/mobile-events/{e1}/checkins", {"client_id": "{c2}", "key": "duty-key-{role}"}),
    Duty("undo check-in", "POST", "/api/mobile-events/{id}/checkins/{session_id}/undo", "/api/mobile-events/{e1}/checkins/{k1}/undo"),
    Duty("invite", "POST", "/api/mobile-events/{id}/invitations", "/api/mobile-events/{e1}/invitations", {"client_id": "{c5}"}),
    Duty("uninvite", "DELETE", "/api/mobile-events/{id}/invitations/{client_id}", "/api/mobile-events/{e1}/invitations/{c1}"),
    Duty("notify outbox", "GET", "/api/notify/outbox"),
    Duty("office settings", "GET", "/api/office/settings"),
    Duty("change office settings", "PUT", "/api/office/settings", body={"min_report_minutes": 10}),
    Duty("reminders", "GET", "/api/reminders"),
    Duty("mark reminder sent", "POST", "/api/reminders/{id}/sent", "/api/reminders/{reminder}/sent"),
    Duty("evaluation", "GET", "/api/reports/evaluation"),
    Duty("log office session", "POST", "/api/sessions", body={"client_id": "{c6}", "mode": "office", "scheduled_at": "{yesterday}T09:00:00+07:00",
                                                             "outcome": "attended", "duration_minutes": 30, "notes": "Hadir."}),
    Duty("read session", "GET", "/api/sessions/{id}", "/api/sessions/{s1}"),
    Duty("edit notes", "PATCH", "/api/sessions/{id}", "/api/sessions/{s1}", {"notes": "Catatan tambahan."}),
    Duty("complete session", "POST", "/api/sessions/{id}/complete", "/api/sessions/{s_api}/complete", {"outcome": "attended", "duration_minutes": 20}),
    Duty("end session", "POST", "/api/sessions/{id}/end", "/api/sessions/{s_end}/end"),
    Duty("notes history", "GET", "/api/sessions/{id}/history", "/api/sessions/{s1}/history"),
    Duty("reissue join link", "POST", "/api/sessions/{id}/link", "/api/sessions/{v1}/link"),
    Duty("revoke join link", "DELETE", "/api/sessions/{id}/link", "/api/sessions/{v1}/link"),
    Duty("phone fallback", "POST", "/api/sessions/{id}/phone-fallback", "/api/sessions/{v_api}/phone-fallback"),
    Duty("session's recordings", "GET", "/api/sessions/{id}/recordings", "/api/sessions/{v1}/recordings"),
    Duty("list staff", "GET", "/api/staff"),
    Duty("add staff", "POST", "/api/staff", body=NEW_STAFF),
    Duty("change staff", "PATCH", "/api/staff/{id}", "/api/staff/{spare}", {"name": "Nama Baru"}),
    # --- the staff's pages ---------------------------------------------------
    Duty("home", "GET", "/"),
    Duty("password page", "GET", "/account/password"),
    Duty("change own password page (too short)", "POST", "/account/password", body=SHORT_PASSWORD, send=F, fresh=True),
    Duty("areas page", "GET", "/admin/areas"),
    Duty("set a client's area", "POST", "/admin/areas/clients/{id}", "/admin/areas/clients/{c3}", {"area_id": "{area}"}, send=F),
    Duty("notify page", "GET", "/admin/notify"),
    Duty("office profile page", "GET", "/admin/office"),
    Duty("change office profile", "POST", "/admin/office", body={"name": "Bapas Uji"}, send=F),
    Duty("upload office logo", "POST", "/admin/office/logo", body={"logo": "{png}"}, send="multipart"),
    Duty("settings page", "GET", "/admin/settings"),
    Duty("change rules", "POST", "/admin/settings/rules", body={"min_report_minutes": "10"}, send=F),
    Duty("staff page", "GET", "/admin/staff"),
    Duty("add staff by form", "POST", "/admin/staff", body={**NEW_STAFF, "username": "form.{role}"}, send=F),
    Duty("change staff by form", "POST", "/admin/staff/{id}", "/admin/staff/{spare}", {"action": "nip", "nip": "198001012005011001"}, send=F),
    Duty("audit page", "GET", "/audit"),
    Duty("anomalies page", "GET", "/audit/anomalies"),
    Duty("integrity page", "GET", "/audit/integrity"),
    Duty("officers page", "GET", "/audit/officers"),
    Duty("client report", "GET", "/audit/reports/client/{id}", "/audit/reports/client/{c1}"),
    Duty("officer report", "GET", "/audit/reports/officer/{id}", "/audit/reports/officer/{pk1}"),
    Duty("caseload", "GET", "/caseload"),
    Duty("new client page", "GET", "/clients/new"),
    Duty("add client by form", "POST", "/clients/new", body={**NEW_CLIENT, "register_number": "FORM-{tag}"}, send=F),
    Duty("client page", "GET", "/clients/{id}", "/clients/{c1}"),
    Duty("plan visit page", "GET", "/clients/{id}/home-visits/new", "/clients/{c1}/home-visits/new"),
    Duty("plan visit by form", "POST", "/clients/{id}/home-visits/new", "/clients/{c1}/home-visits/new", {"date": "{in_days_3}", "reason": "overdue"}, send=F),
    Duty("issue letter by form", "POST", "/clients/{id}/letters", "/clients/{c1}/letters", {"kind": "keterangan"}, send=F),
    Duty("issue portal link by form", "POST", "/clients/{id}/portal-link", "/clients/{c6}/portal-link", {}, send=F),
    Duty("portal link QR", "GET", "/clients/{id}/portal-link/qr.svg", "/clients/{c1}/portal-link/qr.svg"),
    Duty("revoke portal link by form", "POST", "/clients/{id}/portal-link/revoke", "/clients/{c6}/portal-link/revoke", {}, send=F),
    Duty("log session page", "GET", "/clients/{id}/sessions/new", "/clients/{c1}/sessions/new"),
    Duty("log session by form", "POST", "/clients/{id}/sessions/new", "/clients/{c7}/sessions/new",
         {"mode": "office", "scheduled_at": "{yesterday}T10:00", "outcome": "attended", "duration_minutes": "30", "notes": "Hadir."}, send=F),
    Duty("evaluation page", "GET", "/evaluation"),
    Duty("evaluation clients", "GET", "/evaluation/clients"),
    Duty("home-visit day page", "GET", "/home-visits"),
    Duty("answer kendala by form", "POST", "/kendala/{id}/answer", "/kendala/{kendala_page}/answer", {"status": "declined", "reply": "Tidak bisa."}, send=F),
    Duty("letter", "GET", "/letters/{id}", "/letters/{letter}"),
    Duty("letter's logo", "GET", "/letters/{id}/logo", "/letters/{letter}/logo"),
    Duty("revoke letter by form", "POST", "/letters/{id}/revoke", "/letters/{letter_page}/revoke", {}, send=F),
    Duty("sign-in page", "GET", "/login"),
    Duty("sign in by form", "POST", "/login", body={"username": "pk1", "password": "{password}"}, send=F),
    Duty("sign out by form", "POST", "/logout", body={}, send=F, fresh=True),
    Duty("days page", "GET", "/mobile-events"),
    Duty("change cadence by form", "POST", "/mobile-events/cadence", body={"anchor": "{saturday}", "every_days": "14"}, send=F),
    Duty("plan a day page", "GET", "/mobile-events/new"),
    Duty("plan a day by form", "POST", "/mobile-events/new", body={**NEW_DAY, "date": "{in_days_6}", "officer_ids": "{pk1}"}, send=F),
    Duty("planner page", "GET", "/mobile-events/plan"),
    Duty("day page", "GET", "/mobile-events/{id}", "/mobile-events/{e1}"),
    Duty("cancel day by form", "POST", "/mobile-events/{id}/cancel", "/mobile-events/{e2p}/cancel", {}, send=F),
    Duty("daftar hadir", "GET", "/mobile-events/{id}/daftar-hadir", "/mobile-events/{e1}/daftar-hadir"),
    Duty("invite by form", "POST", "/mobile-events/{id}/invitations", "/mobile-events/{e1}/invitations", {"register_number": "REG-c6"}, send=F),
    Duty("uninvite by form", "POST", "/mobile-events/{id}/invitations/{client_id}/remove", "/mobile-events/{e1}/invitations/{c2}/remove", {}, send=F),
    Duty("roll-call page", "GET", "/mobile-events/{id}/rollcall", "/mobile-events/{e1}/rollcall"),
    Duty("office logo", "GET", "/office/logo"),
    Duty("recording", "GET", "/recordings/{id}", "/recordings/{recording}"),
    Duty("reminders page", "GET", "/reminders"),
    Duty("mark reminder sent by form", "POST", "/reminders/{id}/sent", "/reminders/{reminder}/sent", {}, send=F),
    Duty("session page", "GET", "/sessions/{id}", "/sessions/{s1}"),
    Duty("call console", "GET", "/sessions/{id}/call", "/sessions/{v1}/call"),
    Duty("complete by form", "POST", "/sessions/{id}/complete", "/sessions/{s_page}/complete", {"outcome": "attended", "duration_minutes": "20"}, send=F),
    Duty("notes by form", "POST", "/sessions/{id}/notes", "/sessions/{s1}/notes", {"notes": "Catatan dari formulir."}, send=F),
    Duty("phone fallback by form", "POST", "/sessions/{id}/phone-fallback", "/sessions/{v_page}/phone-fallback", {}, send=F),
    Duty("join link QR", "GET", "/sessions/{id}/qr.svg", "/sessions/{v1}/qr.svg"),
    Duty("visit report", "GET", "/sessions/{id}/report", "/sessions/{h1}/report"),
    # --- public, and the client's own ----------------------------------------
    Duty("health", "GET", "/healthz"),
    Duty("metrics", "GET", "/metrics"),
    Duty("language", "GET", "/lang", "/lang?to=en"),
    Duty("static file", "GET", "/static", "/static/style.css"),
    Duty("open join link", "GET", "/j/{token}", "/j/{join_token}"),
    Duty("join page", "GET", "/join"),
    Duty("open personal link", "GET", "/k/{token}", "/k/{portal_token}"),
    Duty("portal page", "GET", "/klien"),
    Duty("portal: report kendala", "POST", "/klien/kendala", body={"session_id": "{s_future}", "kind": "illness", "message": "Demam.", "requested_at": ""}, send="portal"),
    Duty("verify letter", "GET", "/v/{code}", "/v/{letter_code}"),
    Duty("call socket (no upgrade)", "GET", "/ws/sessions/{id}", "/ws/sessions/{v1}"),
]

# One line per row, the roles in the order of ROLES:
#   anonymous | client | portal | pk_owner | other_pk | supervisor | admin | other_office
EXPECT: dict[str, str] = {
    "me":                                    "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "sign in (empty password)":              "400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body",
    "sign out":                              "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "change own password (too short)":       "401 | 401 | 401 | 400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body | 400 invalid-body",
    "openapi":                               "ok | ok | ok | ok | ok | ok | ok | ok",
    "areas":                                 "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "unmatched clients":                     "401 | 401 | 401 | 403 forbidden | 403 forbidden | ok | ok | ok",
    "audit anomalies":                       "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "audit clients":                         "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "audit officers":                        "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "audit sessions":                        "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "audit trail":                           "401 | 401 | 401 | 403 forbidden | 403 forbidden | ok | ok | ok",
    "audit verify":                          "401 | 401 | 401 | 403 forbidden | 403 forbidden | ok | ok | ok",
    "list clients":                          "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "add client":                            "401 | 401 | 401 | ok | 403 forbidden | ok | ok | 400 invalid-body",
    "read client":                           "401 | 401 | 401 | ok | 404 | ok | ok | 404",
    "client's kendala":                      "401 | 401 | 401 | ok | 404 | ok | ok | 404",
    "client's letters":                      "401 | 401 | 401 | ok | 404 | ok | ok | 404",
    "issue letter":                          "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "revoke letter":                         "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "issue portal link":                     "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "revoke portal link":                    "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "client record":                         "401 | 401 | 401 | ok | 404 | ok | ok | 404",
    "home-visit day":                        "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "plan home visit":                       "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "client: own kendala":                   "401 unauthorized | ok | 401 unauthorized | 401 unauthorized | 401 unauthorized | 401 unauthorized | 401 unauthorized | 401 unauthorized",
    "client: report kendala":                "401 unauthorized | ok | 401 unauthorized | 401 unauthorized | 401 unauthorized | 401 unauthorized | 401 unauthorized | 401 unauthorized",
    "answer kendala":                        "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "list days":                             "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "plan a day":                            "401 | 401 | 401 | ok | 403 duty-by-supervisor | ok | G | 400 invalid-body",
    "read cadence":                          "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "change cadence":                        "401 | 401 | 401 | 403 forbidden | 403 forbidden | ok | ok | ok",
    "planner":                               "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "read day":                              "401 | 401 | 401 | ok | ok | ok | ok | 404",
    "change day's topic":                    "401 | 401 | 401 | ok | 403 not-on-duty | ok | G | 404",
    "put oneself on duty":                   "401 | 401 | 401 | ok | 403 not-on-duty | ok | G | 404",
    "add another PK to duty":                "401 | 401 | 401 | 403 duty-by-supervisor | 403 not-on-duty | ok | G | 404",
    "cancel day":                            "401 | 401 | 401 | ok | 403 not-on-duty | ok | G | 404",
    "roster":                                "401 | 401 | 401 | ok | 403 not-on-duty | ok | G | 404",
    "check in":                              "401 | 401 | 401 | ok | 403 not-on-duty | ok | G | 404",
    "undo check-in":                         "401 | 401 | 401 | ok | 403 not-on-duty | ok | G | 404",
    "invite":                                "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "uninvite":                              "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "notify outbox":                         "401 | 401 | 401 | 403 forbidden | 403 forbidden | ok | ok | ok",
    "office settings":                       "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "change office settings":                "401 | 401 | 401 | 403 forbidden | 403 forbidden | ok | ok | ok",
    "reminders":                             "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "mark reminder sent":                    "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "evaluation":                            "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "log office session":                    "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "read session":                          "401 | 401 | 401 | ok | 404 | ok | ok | 404",
    "edit notes":                            "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "complete session":                      "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "end session":                           "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "notes history":                         "401 | 401 | 401 | ok | 404 | ok | ok | 404",
    "reissue join link":                     "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "revoke join link":                      "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "phone fallback":                        "401 | 401 | 401 | ok | 404 | ok | G | 404",
    "session's recordings":                  "401 | 401 | 401 | ok | 404 | ok | 404 | 404",
    "list staff":                            "401 | 401 | 401 | ok | ok | ok | ok | ok",
    "add staff":                             "401 | 401 | 401 | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "change staff":                          "401 | 401 | 401 | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "home":                                  "login | login | login | ok | ok | ok | ok | ok",
    "password page":                         "login | login | login | ok | ok | ok | ok | ok",
    "change own password page (too short)":  "login | login | login | 400 - | 400 - | 400 - | 400 - | 400 -",
    "areas page":                            "login | login | login | 403 forbidden | 403 forbidden | ok | ok | ok",
    "set a client's area":                   "login | login | login | 403 forbidden | 403 forbidden | ok | ok | 404",
    "notify page":                           "login | login | login | 403 forbidden | 403 forbidden | ok | ok | ok",
    "office profile page":                   "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "change office profile":                 "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "upload office logo":                    "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "settings page":                         "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "change rules":                          "login | login | login | 403 forbidden | 403 forbidden | ok | ok | ok",
    "staff page":                            "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "add staff by form":                     "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "change staff by form":                  "login | login | login | 403 forbidden | 403 forbidden | 403 forbidden | ok | 403 forbidden",
    "audit page":                            "login | login | login | ok | ok | ok | ok | ok",
    "anomalies page":                        "login | login | login | ok | ok | ok | ok | ok",
    "integrity page":                        "login | login | login | 403 forbidden | 403 forbidden | ok | ok | ok",
    "officers page":                         "login | login | login | ok | ok | ok | ok | ok",
    "client report":                         "login | login | login | ok | 404 | ok | ok | 404",
    "officer report":                        "login | login | login | ok | 404 | ok | ok | 404",
    "caseload":                              "login | login | login | ok | ok | ok | ok | ok",
    "new client page":                       "login | login | login | ok | ok | ok | ok | ok",
    "add client by form":                    "login | login | login | ok | 403 - | ok | ok | 400 -",
    "client page":                           "login | login | login | ok | 404 | ok | ok | 404",
    "plan visit page":                       "login | login | login | ok | 404 | ok | G | 404",
    "plan visit by form":                    "login | login | login | ok | 404 | ok | G | 404",
    "issue letter by form":                  "login | login | login | ok | 404 | ok | G | 404",
    "issue portal link by form":             "login | login | login | ok | 404 | ok | G | 404",
    "portal link QR":                        "login | login | login | ok | 404 | ok | G | 404",
    "revoke portal link by form":            "login | login | login | ok | 404 | ok | G | 404",
    "log session page":                      "login | login | login | ok | 404 | ok | G | 404",
    "log session by form":                   "login | login | login | ok | 404 | ok | G | 404",
    "evaluation page":                       "login | login | login | ok | ok | ok | ok | ok",
    "evaluation clients":                    "login | login | login | ok | ok | ok | ok | ok",
    "home-visit day page":                   "login | login | login | ok | ok | ok | ok | ok",
    "answer kendala by form":                "login | login | login | ok | 404 | ok | G | 404",
    "letter":                                "login | login | login | ok | 404 | ok | ok | 404",
    "letter's logo":                         "login | login | login | ok | 404 | ok | ok | 404",
    "revoke letter by form":                 "login | login | login | ok | 404 | ok | G | 404",
    "sign-in page":                          "ok | ok | ok | ok | ok | ok | ok | ok",
    "sign in by form":                       "ok | ok | ok | ok | ok | ok | ok | ok",
    "sign out by form":                      "login | login | login | login | login | login | login | login",
    "days page":                             "login | login | login | ok | ok | ok | ok | ok",
    "change cadence by form":                "login | login | login | 403 forbidden | 403 forbidden | ok | ok | ok",
    "plan a day page":                       "login | login | login | ok | ok | ok | ok | ok",
    "plan a day by form":                    "login | login | login | ok | 403 - | ok | 403 - | 400 -",
    "planner page":                          "login | login | login | ok | ok | ok | ok | ok",
    "day page":                              "login | login | login | ok | ok | ok | ok | 404",
    "cancel day by form":                    "login | login | login | ok | 403 not-on-duty | ok | G | 404",
    "daftar hadir":                          "login | login | login | ok | ok | ok | ok | 404",
    "invite by form":                        "login | login | login | ok | 404 - | ok | 403 - | 404",
    "uninvite by form":                      "login | login | login | ok | ok | ok | G | 404",
    "roll-call page":                        "login | login | login | ok | 403 not-on-duty | ok | G | 404",
    "office logo":                           "login | login | login | ok | ok | ok | ok | 404",
    "recording":                             "login | login | login | 409 recording-unreadable | 404 | 409 recording-unreadable | 404 | 404",
    "reminders page":                        "login | login | login | ok | ok | ok | ok | ok",
    "mark reminder sent by form":            "login | login | login | ok | 404 | ok | G | 404",
    "session page":                          "login | login | login | ok | 404 | ok | ok | 404",
    "call console":                          "login | login | login | ok | 404 | ok | 403 forbidden | 404",
    "complete by form":                      "login | login | login | ok | 404 | ok | 403 - | 404",
    "notes by form":                         "login | login | login | ok | 404 | ok | G | 404",
    "phone fallback by form":                "login | login | login | ok | 404 | ok | G | 404",
    "join link QR":                          "login | login | login | ok | 404 | ok | 403 forbidden | 404",
    "visit report":                          "login | login | login | ok | 404 | ok | ok | 404",
    "health":                                "ok | ok | ok | ok | ok | ok | ok | ok",
    "metrics":                               "404 - | 404 - | 404 - | 404 - | 404 - | 404 - | 404 - | 404 -",
    "language":                              "ok | ok | ok | ok | ok | ok | ok | ok",
    "static file":                           "ok | ok | ok | ok | ok | ok | ok | ok",
    "open join link":                        "ok | ok | ok | ok | ok | ok | ok | ok",
    "join page":                             "403 - | ok | 403 - | 403 - | 403 - | 403 - | 403 - | 403 -",
    "open personal link":                    "ok | ok | ok | ok | ok | ok | ok | ok",
    "portal page":                           "404 - | 404 - | ok | 404 - | 404 - | 404 - | 404 - | 404 -",
    "portal: report kendala":                "404 - | 404 - | ok | 403 csrf | 403 csrf | 403 csrf | 403 csrf | 403 csrf",
    "verify letter":                         "ok | ok | ok | ok | ok | ok | ok | ok",
    "call socket (no upgrade)":              "400 - | 400 - | 400 - | 400 - | 400 - | 400 - | 400 - | 400 -",
}
