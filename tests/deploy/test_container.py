"""The container image: built from the root ``Dockerfile`` with podman, run, and driven
from outside as another language's tests would drive it.

The image is built on a Debian base made with debootstrap (no registry is reachable
here; see ``tests/podman.py``); without root or podman these tests skip with a note,
and CI (``REQUIRE_PODMAN=1``) requires them.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from podman import Podman, Started, readme_block
from podman import image as image  # noqa: PLC0414 - the shared fixtures, used by name
from podman import podman as podman  # noqa: PLC0414
from redis_server import find_redis_server

pytestmark = pytest.mark.xdist_group("podman")


def docker_run_line() -> tuple[dict[str, str], list[str]]:
    """The README's ``docker run`` line: its ``-e`` settings and its other options (the
    image name and the published port are the test's own)."""
    line = next(
        line
        for line in readme_block("example: docker-run").splitlines()
        if line.startswith("docker run ")
    )
    words = shlex.split(line)[2:]
    env: dict[str, str] = {}
    options: list[str] = []
    while words:
        word = words.pop(0)
        if word == "-e":
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        elif word == "-p":
            assert words.pop(0).endswith(":8000"), line  # the image's port
        elif word != "--rm":
            options.append(word)
    assert options == ["mockllm"], options  # only the image name is left
    return env, []


ENV, _OPTIONS = docker_run_line()
TOKEN = ENV["MOCKLLM_ADMIN_TOKEN"]


@pytest.fixture(scope="module")
def container(podman: Podman, image: str) -> Iterator[Started]:
    """The image run as the README's ``docker run`` line runs it."""
    started = podman.start(image, *_OPTIONS, env=ENV)
    yield started
    started.remove()


def _call(
    url: str,
    method: str = "GET",
    body: Any = None,
    token: str | None = TOKEN,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _client(container: Started) -> openai.OpenAI:
    return openai.OpenAI(base_url=container.url + "/v1", api_key="sk-test", max_retries=0)


def test_image_metadata(podman: Podman, image: str) -> None:
    found = podman.inspect(image)
    config = found["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "mockllm"
    assert "8000/tcp" in config["ExposedPorts"]
    # Kept only in the docker format: without it `docker run` would never report health.
    health = found["Healthcheck"]
    assert isinstance(health, dict) and health["Test"][0] == "CMD", health
    assert config["Entrypoint"] == ["mockllm"] and config["Cmd"][0] == "serve"


def test_chat_completion_through_the_openai_sdk(container: Started) -> None:
    client = _client(container)
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}], "seed": 5}
    first = client.chat.completions.create(**ask)  # type: ignore[call-overload]
    second = client.chat.completions.create(**ask)  # type: ignore[call-overload]
    assert first.choices[0].message.content
    assert first.model_dump() == second.model_dump()  # seeded: the same bytes again


def test_a_bad_request_names_the_field(container: Started) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(container).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], temperature=3
        )
    assert caught.value.status_code == 400
    assert caught.value.param == "temperature"


def test_control_api_needs_the_token_and_health_reveals_nothing(container: Started) -> None:
    status, body = _call(container.url + "/__mockllm/requests", token=None)
    assert status == 401, body
    status, body = _call(container.url + "/__mockllm/requests", token="wrong")
    assert status == 401
    assert _call(container.url + "/__mockllm/health", token=None) == (200, {"status": "ok"})
    status, body = _call(container.url + "/__mockllm/health")
    assert status == 200 and body["status"] == "ok" and body["scenarios"] > 0, body


def test_scenario_added_with_the_token_answers_and_the_journal_shows_it(container: Started) -> None:
    assert _call(container.url + "/__mockllm/reset", "POST")[0] == 200
    status, added = _call(
        container.url + "/__mockllm/scenarios",
        "POST",
        b"name: from-outside\nwhen: {last_user_message: {contains: ping}}\n"
        b"reply: {content: pong from the container}\n",
        content_type="application/yaml",
    )
    assert (status, added) == (201, {"added": ["from-outside"]})
    reply = _client(container).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping?"}]
    )
    assert reply.choices[0].message.content == "pong from the container"
    status, journal = _call(container.url + "/__mockllm/requests?scenario=from-outside")
    assert status == 200 and journal["count"] == 1
    entry = journal["requests"][0]
    assert entry["status"] == 200
    assert entry["body"]["messages"][0]["content"] == "ping?"


def test_runs_as_a_user_without_privileges(podman: Podman, container: Started) -> None:
    assert podman.run("exec", container.name, "id", "-u").stdout.strip() == "10001"
    top = podman.run("top", container.name, "user", "args").stdout
    assert "mockllm serve" in top and "root" not in top, top


def test_the_image_health_check_passes(podman: Podman, container: Started) -> None:
    # No systemd timer on these machines: run the image's own check by hand.
    done = podman.run("healthcheck", "run", container.name, check=False)
    assert done.returncode == 0, done.stderr


def test_mounted_scenarios_are_served_and_reloaded(
    podman: Podman, image: str, tmp_path: Path
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    folder.chmod(0o755)  # the server runs as another user
    tmp_path.chmod(0o755)
    scenario = folder / "hello.yaml"
    scenario.write_text("scenarios:\n  - name: mounted\n    reply: {content: first version}\n")
    scenario.chmod(0o644)
    started = podman.start(
        image,
        "-v",
        f"{folder}:/scenarios:ro",
        env={"MOCKLLM_SCENARIO_PATHS": "/scenarios", "MOCKLLM_RELOAD": "true"},
    )
    try:
        client = _client(started)

        def content() -> str | None:
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            return reply.choices[0].message.content

        assert content() == "first version"
        scenario.write_text("scenarios:\n  - name: mounted\n    reply: {content: second one}\n")
        deadline = time.monotonic() + 15
        while content() != "second one":
            assert time.monotonic() < deadline, started.logs()
            time.sleep(0.2)
    finally:
        started.remove()


def test_sigterm_stops_it_cleanly_within_a_second(podman: Podman, image: str) -> None:
    started = podman.start(image)
    try:
        sent = time.time()
        podman.run("kill", "--signal", "TERM", started.name)
        podman.run("wait", started.name, timeout=30)
        state = podman.inspect(started.name)["State"]
        assert isinstance(state, dict)
        assert state["ExitCode"] == 0, started.logs()
        finished = podman.run(
            "inspect", "--format", "{{.State.FinishedAt.UnixNano}}", started.name
        ).stdout.strip()
        assert int(finished) / 1e9 - sent < 1.0
        assert "Traceback" not in started.logs()
    finally:
        started.remove()


def test_the_readme_compose_service_runs_on_redis(
    podman: Podman, image: str, tmp_path: Path
) -> None:
    """The Compose file's mockllm service, as Compose would run it next to its Redis. No
    registry here: the machine's own redis-server runs in the container's network
    namespace, where the service's ``redis`` host name points."""
    services = yaml.safe_load(readme_block("example: compose"))["services"]
    service = services["mockllm"]
    assert service["build"] == "." and "redis" in service["depends_on"]
    assert service["ports"] == ["127.0.0.1:8000:8000"]
    env = {key: str(value) for key, value in service["environment"].items()}
    assert env["MOCKLLM_STATE"].startswith("redis://redis:6379/")
    (volume,) = service["volumes"]
    source, target, mode = volume.split(":")
    assert (source, mode) == ("./scenarios", "ro") and target == env["MOCKLLM_SCENARIO_PATHS"]
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for path in (tmp_path, folder):
        path.chmod(0o755)
    (folder / "greet.yaml").write_text(
        "scenarios:\n  - name: from-compose\n    reply: {content: served from a mounted file}\n"
    )
    (folder / "greet.yaml").chmod(0o644)
    redis = find_redis_server()
    name = podman.run(
        "run",
        "-d",
        "--add-host",
        "redis:127.0.0.1",
        "-p",
        "127.0.0.1::8000",
        "-v",
        f"{folder}:{target}:{mode}",
        *(f"--env={key}={value}" for key, value in env.items()),
        image,
    ).stdout.strip()
    started = Started(podman, name, "")
    try:
        pid = podman.run("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        port = podman.run("port", name, "8000").stdout.strip().rsplit(":", 1)[1]
        started.url = f"http://127.0.0.1:{port}"
        redis_process = subprocess.Popen(
            [
                "nsenter",
                "-t",
                pid,
                "-n",
                redis,
                "--port",
                "6379",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            started.wait_healthy()
            token = env["MOCKLLM_ADMIN_TOKEN"]
            status, health = _call(started.url + "/__mockllm/health", token=token)
            assert status == 200 and health["state"]["ok"], health
            assert health["state"]["store"] == env["MOCKLLM_STATE"]
            reply = _client(started).chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == "served from a mounted file"
            status, journal = _call(started.url + "/__mockllm/requests", token=token)
            assert [e["scenario"] for e in journal["requests"]] == ["from-compose"]
        finally:
            redis_process.terminate()
            redis_process.wait(10)
    finally:
        started.remove()
