"""dvault/secretargs.py: secrets on a recorded command line are redacted, the rest kept."""

from __future__ import annotations

import pytest

from dvault.secretargs import REDACTED, redact_argv, redacted_positions

R = REDACTED


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["t", "--password=hunter2", "--epochs", "3"], ["t", f"--password={R}", "--epochs", "3"]),
        (["t", "--api-key", "k1", "--lr", "0.1"], ["t", "--api-key", R, "--lr", "0.1"]),
        (["t", "--db-pass", "pw", "--sort-key", "n"], ["t", "--db-pass", R, "--sort-key", "n"]),
        (["t", "--client_secret", "x"], ["t", "--client_secret", R]),
        (["t", "--token-file", "/run/t", "--no-auth", "d"], None),
        (["t", "--token", "--verbose"], None),
        (["env", "HF_TOKEN=hf_x", "PATH=/bin"], ["env", f"HF_TOKEN={R}", "PATH=/bin"]),
        (["sh", "-c", "AWS_SECRET_ACCESS_KEY=a/b x --token 't 1' --out o"],
         ["sh", "-c", f"AWS_SECRET_ACCESS_KEY={R} x --token {R} --out o"]),
        (["curl", "-H", "Authorization: Bearer abc"], ["curl", "-H", f"Authorization: {R}"]),
        (["get", "https://bob:pw@host/x"], ["get", f"https://bob:{R}@host/x"]),
        (["echo", "AKIAIOSFODNN7EXAMPLE"], ["echo", R]),
        (["echo", "ghp_" + "a" * 36, "hf_" + "b" * 34], ["echo", R, R]),
        (["pip", "install", "scikit-learn", "sk-learn-extra"], None),
        (["mkdir", "-p", "out"], None),
    ],
)  # fmt: skip
def test_redaction(argv: list[str], expected: list[str] | None) -> None:
    assert redact_argv(argv) == (argv if expected is None else expected)


def test_redacted_positions() -> None:
    assert redacted_positions(["a", f"--p={R}", "b", R]) == [1, 3]
    assert redacted_positions(["a"]) == []
