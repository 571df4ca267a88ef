"""The schema's closed vocabularies: roles, programmes, session modes and
statuses, outcomes, evidence, and the other fixed lists the model stores as
checked strings. ``server.db.models`` re-exports every name, so code imports
the schema from one place."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    pk = "pk"
    supervisor = "supervisor"
    admin = "admin"


class AreaLevel(str, enum.Enum):
    city = "city"
    kecamatan = "kecamatan"
    kelurahan = "kelurahan"


class Program(str, enum.Enum):
    pb = "PB"  # Pembebasan Bersyarat (parole)
    cb = "CB"  # Cuti Bersyarat
    cmb = "CMB"  # Cuti Menjelang Bebas
    asimilasi = "Asimilasi"
    diversi = "Diversi"  # children: diversion
    pengawasan = "Pengawasan"  # children: supervision order


class ClientCategory(str, enum.Enum):
    adult = "adult"
    child = "child"


class SessionMode(str, enum.Enum):
    video = "video"
    office = "office"
    home_visit = "home_visit"
    mobile = "mobile"
    phone = "phone"  # a call held on WhatsApp or by telephone, outside Bimbing (issue #8)


class Evidence(str, enum.Enum):
    """How a session's facts are known; every view and export keeps them apart."""

    observed = "observed"  # a video call: the server saw both parties connected, media flowing
    reported = "reported"  # entered by staff: office, home visit, a call held outside Bimbing
    roll_call = "roll_call"  # checked in at a mobile-counseling event by the PKs on duty


class SessionStatus(str, enum.Enum):
    scheduled = "scheduled"
    active = "active"
    ended = "ended"
    interrupted = "interrupted"
    cancelled = "cancelled"


class Outcome(str, enum.Enum):
    attended = "attended"
    excused = "excused"
    no_show = "no_show"
    rescheduled = "rescheduled"


class KendalaKind(str, enum.Enum):
    work_shift = "work_shift"
    transport_cost = "transport_cost"
    illness = "illness"
    family = "family"
    other = "other"


class KendalaStatus(str, enum.Enum):
    open = "open"
    accepted = "accepted"
    declined = "declined"


class SessionEventKind(str, enum.Enum):
    created = "created"
    link_issued = "link_issued"
    link_revoked = "link_revoked"
    link_opened = "link_opened"
    officer_joined = "officer_joined"
    officer_resumed = "officer_resumed"
    client_waiting = "client_waiting"
    admitted = "admitted"
    client_resumed = "client_resumed"
    denied = "denied"
    media_connected = "media_connected"
    disconnected = "disconnected"
    reconnected = "reconnected"
    officer_left = "officer_left"
    client_left = "client_left"
    server_restarted = "server_restarted"
    resumed = "resumed"
    interrupted = "interrupted"
    ended = "ended"
    notes_changed = "notes_changed"
    recording_started = "recording_started"
    recording_stopped = "recording_stopped"
    cancelled = "cancelled"
    kendala_reported = "kendala_reported"
    kendala_answered = "kendala_answered"
    rescheduled = "rescheduled"
    completed = "completed"
    phone_fallback = "phone_fallback"
    checked_in = "checked_in"
    checkin_undone = "checkin_undone"
    visit_planned = "visit_planned"


class MobileEventStatus(str, enum.Enum):
    planned = "planned"
    cancelled = "cancelled"


class LetterKind(str, enum.Enum):
    keterangan = "keterangan"  # surat keterangan: the client attends guidance (often for an employer)
    panggilan = "panggilan"  # surat panggilan: summons an overdue client
    selesai = "selesai"  # surat keterangan selesai bimbingan: supervision has ended
    # community service done: every hour ordered approved, for the Kejaksaan (issue 21)
    kerja_sosial_selesai = "kerja_sosial_selesai"
    # laporan perkembangan klien: the client's progress over a period (issue 20), with what it printed kept
    perkembangan = "perkembangan"
    # A violation's path (issue 21): issued by its steps and by a sitting's close, never by hand.
    teguran_1 = "teguran_1"  # surat teguran pertama
    teguran_2 = "teguran_2"  # surat teguran kedua
    bap = "bap"  # Berita Acara Pemeriksaan
    risalah_tpp = "risalah_tpp"  # the minutes of a sidang TPP (about a sitting: no single client)
    pencabutan_kanwil = "pencabutan_kanwil"  # a revocation told to the Kanwil
    pencabutan_kejari = "pencabutan_kejari"  # a revocation told to the Kejaksaan Negeri


class ViolationKind(str, enum.Enum):
    """What a client did (issue 21): the grounds on which parole may be revoked."""

    tidak_wajib_lapor = "tidak_wajib_lapor"
    pindah_alamat = "pindah_alamat"
    tidak_ikut_program = "tidak_ikut_program"
    tindak_pidana_baru = "tindak_pidana_baru"
    meresahkan = "meresahkan"
    lainnya = "lainnya"


class ViolationState(str, enum.Enum):
    """The set path of a violation, in order (server/domain/violations/path.py)."""

    dicatat = "dicatat"
    teguran_1 = "teguran_1"
    teguran_2 = "teguran_2"
    bap = "bap"
    sidang_tpp = "sidang_tpp"
    keputusan = "keputusan"


class ViolationDecision(str, enum.Enum):
    """What the sidang TPP decided of a violation, and so its keputusan."""

    dilanjutkan = "dilanjutkan"  # supervision goes on
    pencabutan = "pencabutan"  # parole or conditional release revoked
    selesai = "selesai"  # the case is closed with no further measure


def evidence_for(mode: "SessionMode") -> "Evidence":
    """The evidence a new session of this mode carries (a roll call sets its own)."""
    return Evidence.observed if mode == SessionMode.video else Evidence.reported


TOPICS = (
    # kepribadian
    "faith",
    "civic_awareness",
    "intellect",
    "attitude_behaviour",
    "legal_awareness",
    "reintegration",
    # kemandirian
    "work_skills",
    "work_training",
)


MET_WITH = ("client", "family", "rt_rw", "kelurahan_official", "employer", "neighbour")


VISIT_REASONS = ("overdue", "unreachable", "address_check", "employment_check", "family_situation", "court_request", "head_request")


class Stage(str, enum.Enum):
    """The stages of a supervision (tahap): wajib lapor thins out as it goes."""

    awal = "awal"
    lanjutan = "lanjutan"
    akhir = "akhir"


class RiskCategory(str, enum.Enum):
    """The result of the RRI (risk of reoffending): Bimbing records it, not its questions."""

    rendah = "rendah"
    sedang = "sedang"
    tinggi = "tinggi"


class PlanStatus(str, enum.Enum):
    draft = "draft"
    approved = "approved"  # countersigned by a supervisor: locked


class Agreement(str, enum.Enum):
    """The client's answer to the case plan."""

    setuju = "setuju"
    tidak_setuju = "tidak_setuju"
    tidak_dapat_menjawab = "tidak_dapat_menjawab"


class GoalRating(str, enum.Enum):
    """The PK's judgement of a goal at one session."""

    mundur = "mundur"
    tetap = "tetap"
    maju = "maju"
    tercapai = "tercapai"
