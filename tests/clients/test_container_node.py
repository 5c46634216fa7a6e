"""The README's Node test, run the way its GitHub Actions example runs it: against the
container image started with the service's settings.

The image is built with podman (``tests/podman.py``; skips without root or podman, CI
requires it) and the Node test runs with the openai Node SDK of ``tests/clients/node``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from podman import Podman, readme_block
from podman import image as image  # noqa: PLC0414 - the shared fixtures, used by name
from podman import podman as podman  # noqa: PLC0414
from test_node_clients import node_ready as node_ready  # noqa: PLC0414

pytestmark = pytest.mark.xdist_group("podman")


def test_the_readme_node_test_passes_against_the_service(
    podman: Podman, image: str, node_ready: Path
) -> None:
    job = yaml.safe_load(readme_block("example: github-actions"))["jobs"]["test"]
    service = job["services"]["mockllm"]
    assert service["ports"] == ["8000:8000"]
    env = {key: str(value) for key, value in service["env"].items()}
    step = next(s for s in job["steps"] if str(s.get("run", "")).startswith("node --test"))
    script = step["run"].split()[-1]
    code = readme_block("example: node-test")
    assert code.startswith(f"// {script}\n"), "the workflow runs the README's Node test"
    step_env = {key: str(value) for key, value in step["env"].items()}
    assert step_env["MOCKLLM_URL"] == "http://127.0.0.1:8000"
    assert step_env["MOCKLLM_ADMIN_TOKEN"] == env["MOCKLLM_ADMIN_TOKEN"]

    started = podman.start(image, env=env)
    # Next to the installed SDK, so `import OpenAI from "openai"` resolves as in a project.
    test_file = node_ready / f"readme-{os.getpid()}.test.mjs"
    try:
        test_file.write_text(code)
        node = shutil.which("node")
        assert node is not None
        done = subprocess.run(
            [node, "--test", test_file.name],
            cwd=node_ready,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **step_env, "MOCKLLM_URL": started.url},
        )
        assert done.returncode == 0, done.stdout + done.stderr + started.logs()
        assert "# pass 1" in done.stdout and "# fail 0" in done.stdout, done.stdout
    finally:
        test_file.unlink(missing_ok=True)
        started.remove()
