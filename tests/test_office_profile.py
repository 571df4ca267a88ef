"""The office's particulars, as an admin keeps them for letters and the client's page."""

from __future__ import annotations

import pytest

from server.db.models import Office
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.profile import office_profile, update_profile


def test_a_new_office_has_a_profile_with_its_name_and_nothing_else():
    p = office_profile(Office(name="Bapas Kelas I Jakarta Timur-Utara", settings={}))
    assert p.name == "Bapas Kelas I Jakarta Timur-Utara" and p.address == "" and p.head_nip == ""


def test_an_update_keeps_other_settings_and_says_what_changed():
    office = Office(name="Bapas", settings={"mobile_cadence": {"every_days": 14}})
    profile, changed = update_profile(office, address=" Jl. Raya Bekasi Km. 18 ", phone="021-4600000")
    assert profile.address == "Jl. Raya Bekasi Km. 18"
    assert changed == {"address": ("", "Jl. Raya Bekasi Km. 18"), "phone": ("", "021-4600000")}
    assert office.settings["mobile_cadence"] == {"every_days": 14}
    assert office_profile(office) == profile


@pytest.mark.parametrize("changes", [{"fax": "1"}, {"name": "  "}, {"address": "x" * 301}])
def test_bad_changes_are_refused_and_change_nothing(changes):
    office = Office(name="Bapas", settings={})
    with pytest.raises(DomainError) as caught:
        update_profile(office, **changes)
    assert caught.value.kind is ErrorKind.invalid
    assert office.name == "Bapas" and office.settings == {}
