"""A reply template that fails at request time is the scenario's mistake: a 422 that the
SDKs do not retry (``x-should-retry: false``), naming the scenario, the template's
file:line and the template's own message (it was a retried 500 naming a class)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from mockllm.config import Settings
from mockllm.server import MockLLMServer

SCENARIOS = """\
scenarios:
  - name: fine
    when: {last_user_message: fine}
    reply: {content: ok}
  - name: broken-range
    when:
      last_user_message: boom
    reply:
      content: "You are number {{ faker.pyint(min_value=9, max_value=1) }}"
"""


@pytest.mark.parametrize("run", ["first load", "cached load"])
def test_a_failing_template_is_a_422_not_retried_naming_file_and_line(
    tmp_path: Path, run: str
) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(SCENARIOS)
    # Twice: the second server reads the file's parse from the user cache, which keeps
    # the scenarios' lines only; the error still names the template's own line.
    for _ in range(1 if run == "first load" else 2):
        with MockLLMServer(Settings(port=0, scenario_paths=(file,))) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=2)
            with pytest.raises(openai.UnprocessableEntityError) as info:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "boom"}]
                )
            journal = server.call(server.state.store.exchanges)
    error = info.value
    assert error.response.headers["x-should-retry"] == "false"
    assert len(journal) == 1  # the SDK did not retry it
    message = str(error.body["message"] if isinstance(error.body, dict) else error.body)
    assert f"scenario 'broken-range' ({file}:9, reply.content)" in message
    assert "ValueError: empty range for randrange()" in message
    assert "internal" not in message
