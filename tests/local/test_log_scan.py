"""local.log_scan finds what it looks for: the local secrets, the Basic credential made of the Payme key,
issued card tokens, test card numbers and card-like numbers; masked numbers and our ids are no hits."""

import base64
from pathlib import Path

from local.log_scan import ScanResult, luhn, needles, report, scan_lines, scan_paths
from local.template import load_config


def test_every_kind_of_secret_is_a_hit_and_ordinary_lines_are_not(tmp_path: Path) -> None:
    config = load_config()
    secrets = needles(config, ["tok-abc123456789"])
    basic = base64.b64encode(b"Paycom:" + config["PAYME_KEY"].encode()).decode()
    log = tmp_path / "stack.log"
    log.write_text(
        "\n".join(
            [
                '{"level":"DEBUG","message":"payme params","params":{"id":"6e730e8e0b852a417aa49c01"}}',
                f"Authorization: Basic {basic}",
                f"secret={config['CLICK_SECRET_KEY']}",
                f"x-api-key: {config['BILLING_API_KEY']}",
                "card_token=tok-abc123456789",
                "card 8600495473316478",
                "card 4111111111111111 and masked 860049******6478, ikpu 10301001001000000",
                '{"time": 1796168475237, "click_trans_id": "7100000001"}',
            ]
        )
    )
    result = scan_paths([log], secrets)
    assert (result.files, result.lines, result.debug_lines) == (1, 8, 1)
    assert [(hit.line, hit.what) for hit in result.hits] == [
        (2, "Payme Basic credential"),
        (3, "Click secret"),
        (4, "API key"),
        (5, "card token"),
        (6, "card number"),
        (7, "card-like number"),
    ]
    text = report(result, tokens=1)
    assert "8 lines (1 at DEBUG) in 1 files, 6 hits" in text
    assert config["CLICK_SECRET_KEY"] not in text and "tok-abc" not in text  # a hit names, never shows


def test_the_payme_key_itself_is_a_hit() -> None:
    config = load_config()
    result = ScanResult()
    scan_lines("x", [f"key {config['PAYME_KEY']}"], needles(config), result)
    assert [hit.what for hit in result.hits] == ["Payme key"]


def test_luhn() -> None:
    assert luhn("4111111111111111") and luhn("8600495473316478") and not luhn("4111111111111112")
