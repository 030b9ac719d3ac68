"""The runner's only way to the stage: HTTP through the standard library, against a base URL.

Every reply body is read as JSON; one that is not JSON becomes {"unreadable": <its start>}, which fails
whatever field a check wanted.
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tolov_conformance.click_tester import Transport as ClickTransport
from tolov_conformance.payme_sandbox import Transport as PaymeTransport

TIMEOUT_S = 30.0


def request(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    sent = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=TIMEOUT_S) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as failure:  # a 4xx/5xx still has a status and a body worth showing
        status, raw = failure.code, failure.read()
    try:
        parsed = json.loads(raw)
    except ValueError:
        return status, {"unreadable": raw[:200].decode("utf-8", "replace")}
    return status, parsed if isinstance(parsed, dict) else {
        "unreadable": raw[:200].decode("utf-8", "replace")
    }


def payme(base_url: str) -> PaymeTransport:
    def send(body: str, authorization: str) -> tuple[int, dict[str, Any]]:
        # The header Payme's own requests carry.
        headers = {"Authorization": authorization, "Content-Type": "text/json; charset=UTF-8"}
        return request("POST", base_url + "/payme", body.encode(), headers)

    return send


def click(base_url: str) -> ClickTransport:
    def send(path: str, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        body = urllib.parse.urlencode(fields).encode()
        return request("POST", base_url + path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    return send
