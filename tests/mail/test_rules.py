"""Which mail transport and resolver a deployment runs with; production refuses the offline ones."""

from __future__ import annotations

import pytest

from tarcza.mail.rules import OfflineModeRefused, check_offline_modes, resolve_modes


@pytest.mark.parametrize(
    ("env", "mail", "dns", "expected"),
    [
        ("development", "", "", ("catch", "builtin")),
        ("production", "", "", ("smtp", "system")),
        ("development", "smtp", "system", ("smtp", "system")),
        ("development", "SMTP ", " System", ("smtp", "system")),
        ("development", "catch", "builtin", ("catch", "builtin")),
        ("development", "smtp", "", ("smtp", "builtin")),
        ("development", "", "system", ("catch", "system")),
        ("production", "smtp", "system", ("smtp", "system")),
        ("test", "", "", ("catch", "builtin")),
    ],
)
def test_the_modes_a_deployment_runs_with(
    env: str, mail: str, dns: str, expected: tuple[str, str]
) -> None:
    assert resolve_modes(env, mail, dns) == expected


def test_named_servers_in_development_mean_the_real_ones() -> None:
    assert resolve_modes("development", "", "", nameservers=["127.0.0.1:5353"]) == (
        "catch",
        "system",
    )
    assert resolve_modes("development", "", "", smtp_configured=True) == ("smtp", "builtin")
    assert resolve_modes("development", "", "", nameservers=["  "]) == ("catch", "builtin")
    # An explicit choice wins over the servers named.
    assert resolve_modes(
        "development", "catch", "builtin", nameservers=["127.0.0.1"], smtp_configured=True
    ) == ("catch", "builtin")


@pytest.mark.parametrize(
    ("mail", "dns", "setting", "words"),
    [
        ("catch", "", "TARCZA_MAIL", "TARCZA_MAIL=smtp"),
        ("catch", "system", "TARCZA_MAIL", "sends none"),
        ("", "builtin", "TARCZA_DNS", "TARCZA_DNS=system"),
        ("smtp", "BUILTIN", "TARCZA_DNS", "demo's invented hosts"),
    ],
)
def test_production_refuses_the_catcher_and_the_builtin_resolver(
    mail: str, dns: str, setting: str, words: str
) -> None:
    with pytest.raises(OfflineModeRefused) as refused:
        resolve_modes("production", mail, dns)

    assert refused.value.setting == setting
    assert words in str(refused.value)
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    ("mail", "dns", "setting"),
    [("sendmail", "", "TARCZA_MAIL"), ("", "8.8.8.8", "TARCZA_DNS"), ("smtp", "dns", "TARCZA_DNS")],
)
def test_an_unknown_mode_is_refused_naming_the_setting(mail: str, dns: str, setting: str) -> None:
    with pytest.raises(OfflineModeRefused) as refused:
        resolve_modes("development", mail, dns)

    assert refused.value.setting == setting
    assert str(refused.value).startswith(f"{setting} must be ")


@pytest.mark.parametrize("env", ["production", "Production", " production"])
def test_check_refuses_in_production_whatever_the_spelling(env: str) -> None:
    with pytest.raises(OfflineModeRefused):
        check_offline_modes(env, "catch", "system")
    with pytest.raises(OfflineModeRefused):
        check_offline_modes(env, "smtp", "builtin")
    check_offline_modes(env, "smtp", "system")


@pytest.mark.parametrize("env", ["development", "test", ""])
def test_check_lets_development_use_everything(env: str) -> None:
    for mail in ("smtp", "catch"):
        for dns in ("system", "builtin"):
            check_offline_modes(env, mail, dns)
