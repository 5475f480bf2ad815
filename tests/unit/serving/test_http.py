"""The HTTP guard without Ray: the bearer token and the request-body limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from raylight.serving.http import make_api, token_digest


def guarded_client(token: str | None = None, max_body_bytes: int = 2048) -> TestClient:
    api = make_api(
        "t", max_body_bytes=max_body_bytes, token_sha256=token_digest(token) if token else None
    )

    @api.post("/predict")
    async def predict(body: list[int]) -> dict[str, int]:
        return {"n": len(body)}

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return TestClient(api)


def test_token_is_required_everywhere_but_healthz() -> None:
    client = guarded_client(token="s3cret")
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cret"}):
        response = client.post("/predict", json=[1], headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"].startswith("missing or wrong bearer token")
        assert "s3cret" not in response.text
    assert client.get("/healthz").status_code == 200
    ok = client.post("/predict", json=[1, 2], headers={"Authorization": "Bearer s3cret"})
    assert ok.json() == {"n": 2}


def test_bodies_over_the_limit_get_413_declared_or_streamed() -> None:
    client = guarded_client(max_body_bytes=2048)
    assert client.post("/predict", json=[1] * 100).status_code == 200
    declared = client.post("/predict", json=[1] * 2000)
    assert declared.status_code == 413 and "max_body_bytes" in declared.json()["error"]
    streamed = client.post(
        "/predict",
        content=iter([b"[" + b"1," * 700, b"1," * 700, b"1]"]),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
