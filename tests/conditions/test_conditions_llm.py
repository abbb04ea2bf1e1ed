"""LLM prompt generation against a fake OpenAI-compatible server on 127.0.0.1, plus resolve_condition."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from condsim.conditions import (
    LLMConfig,
    LLMPromptGenerator,
    crl_llm_prompt,
    get_condition,
    list_conditions,
    parse_expression_list,
    resolve_condition,
)
from condsim.conditions.llm import RECIPE_VERSION, default_cache_dir
from condsim.errors import (
    EmptyConditionError,
    InvalidInputError,
    PromptGenerationError,
    UnknownConditionError,
)

MODEL = "fake-model"


@dataclass
class Reply:
    """One canned answer: HTTP status, raw body, and an optional delay before answering."""

    status: int = 200
    body: str = ""
    delay_s: float = 0.0


def chat(content: str) -> Reply:
    return Reply(body=json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}))


def words(prefix: str, count: int) -> list[str]:
    return [f"{prefix} {index}" for index in range(count)]


@dataclass
class FakeServer:
    base_url: str
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state: dict[str, FakeServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            fake = state["server"]
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"null")
            fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            reply = fake.next_reply()
            if reply.delay_s:
                fake.release.wait(reply.delay_s)
            payload = reply.body.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake = FakeServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    state["server"] = fake
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def generator(server: FakeServer, cache_dir: Path, **options: Any) -> LLMPromptGenerator:
    timeout_s = options.pop("timeout_s", 5.0)
    config = LLMConfig(base_url=server.base_url, model=MODEL, api_key="sk-test", timeout_s=timeout_s)
    return LLMPromptGenerator(config, cache_dir=cache_dir, **options)


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*")) if cache_dir.exists() else []


def test_success_then_cached(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [
        chat(json.dumps(words("pattern", 70))),
        chat(json.dumps(words("pattern", 40) + words("coat", 40))),
    ]
    condition = generator(server, tmp_path).generate("fur pattern")
    assert condition.source == "llm"
    assert condition.name == "fur pattern"
    assert len(condition.values) == 110  # stops after round 2: 70 + 40 new >= target 100
    assert condition.values[:2] == ("pattern 0", "pattern 1")
    assert condition.clay_prompts[0] == "a photo of pattern 0"
    assert condition.crl_prompts[0] == "objects with the fur pattern of pattern 0"
    assert len(server.requests) == 2
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == MODEL
    assert request["body"]["temperature"] == 1
    (message,) = request["body"]["messages"]
    assert message["role"] == "user"
    assert message["content"] == crl_llm_prompt("fur pattern")
    assert message["content"].startswith("Please generate 100 expressions to describe the fur pattern")

    files = cache_files(tmp_path)
    assert len(files) == 1 and files[0].suffix == ".json"  # no temporary files left behind
    cached = json.loads(files[0].read_text(encoding="utf-8"))
    assert cached["model"] == MODEL and cached["recipe_version"] == RECIPE_VERSION
    assert cached["condition"] == "fur pattern"

    again = generator(server, tmp_path).generate("Fur  Pattern")  # a new instance, same cache
    assert again.values == condition.values
    assert len(server.requests) == 2, "a cached condition must not call the endpoint"


def test_cache_is_per_model(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat(json.dumps(words("x", 100)))]
    generator(server, tmp_path).generate("fur pattern")
    other = LLMConfig(base_url=server.base_url, model="other-model", timeout_s=5.0)
    LLMPromptGenerator(other, cache_dir=tmp_path).generate("fur pattern")
    assert len(server.requests) == 2
    assert len(cache_files(tmp_path)) == 2
    assert "Authorization" not in server.requests[1]["headers"]


def test_refresh_and_corrupt_cache_regenerate(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat(json.dumps(words("x", 100)))]
    llm = generator(server, tmp_path)
    llm.generate("fur pattern")
    llm.generate("fur pattern", refresh=True)
    assert len(server.requests) == 2
    llm.cache_path("fur pattern").write_text("{not json", encoding="utf-8")
    assert len(llm.generate("fur pattern").values) == 100
    assert len(server.requests) == 3
    document = json.loads(llm.cache_path("fur pattern").read_text(encoding="utf-8"))
    document["recipe_version"] = RECIPE_VERSION - 1
    llm.cache_path("fur pattern").write_text(json.dumps(document), encoding="utf-8")
    llm.generate("fur pattern")
    assert len(server.requests) == 4


def test_code_fenced_answer_with_trailing_text(server: FakeServer, tmp_path: Path) -> None:
    values = words("shade", 65)
    answer = f"Sure! Here is the list:\n```json\n{json.dumps(values)}\n```\nWant more [or fewer]?"
    server.replies = [chat(answer)]
    condition = generator(server, tmp_path, target_prompts=60).generate("paint shade")
    assert condition.values == tuple(values)
    assert len(server.requests) == 1


def test_bad_json_fails_and_caches_nothing(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat("I cannot help with that.")]
    with pytest.raises(PromptGenerationError, match="not a JSON list") as caught:
        generator(server, tmp_path).generate("fur pattern")
    assert caught.value.hint
    assert cache_files(tmp_path) == []


def test_not_a_chat_completion(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [Reply(body="<html>gateway</html>")]
    with pytest.raises(PromptGenerationError, match="OpenAI-style chat completion"):
        generator(server, tmp_path).generate("fur pattern")
    assert cache_files(tmp_path) == []


def test_http_500_fails_and_caches_nothing(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [Reply(status=500, body='{"error": "model overloaded"}')]
    with pytest.raises(PromptGenerationError, match=r"HTTP 500: .*model overloaded"):
        generator(server, tmp_path).generate("fur pattern")
    assert cache_files(tmp_path) == []


def test_http_401_hints_at_the_key(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [Reply(status=401, body="")]
    with pytest.raises(PromptGenerationError, match="HTTP 401") as caught:
        generator(server, tmp_path).generate("fur pattern")
    assert "CONDSIM_LLM_API_KEY" in (caught.value.hint or "")


def test_timeout_fails_and_caches_nothing(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [Reply(body=json.dumps(words("x", 100)), delay_s=5.0)]
    with pytest.raises(PromptGenerationError, match=r"did not answer within 0.5 s"):
        generator(server, tmp_path, timeout_s=0.5).generate("fur pattern")
    assert cache_files(tmp_path) == []


def test_unreachable_endpoint(tmp_path: Path) -> None:
    config = LLMConfig(base_url="http://127.0.0.1:9/v1", model=MODEL, timeout_s=2.0)
    with pytest.raises(PromptGenerationError, match=r"Could not reach|did not answer"):
        LLMPromptGenerator(config, cache_dir=tmp_path).generate("fur pattern")
    assert cache_files(tmp_path) == []


def test_too_few_prompts_fails_and_caches_nothing(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat(json.dumps(words("same", 10)))]
    with pytest.raises(PromptGenerationError, match=r"only 10 distinct expressions .* at least 60"):
        generator(server, tmp_path, max_rounds=5).generate("fur pattern")
    assert 1 < len(server.requests) <= 5  # repeated, then gave up when rounds added nothing new
    assert cache_files(tmp_path) == []


def test_round_limit(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat(json.dumps(words(f"round{index}", 15))) for index in range(10)]
    with pytest.raises(PromptGenerationError, match=r"only 45 distinct .* after 3 request"):
        generator(server, tmp_path, max_rounds=3).generate("fur pattern")
    assert len(server.requests) == 3


def test_failure_in_a_later_round_caches_nothing(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat(json.dumps(words("x", 70))), Reply(status=502, body="bad gateway")]
    with pytest.raises(PromptGenerationError, match="HTTP 502"):
        generator(server, tmp_path).generate("fur pattern")
    assert cache_files(tmp_path) == []


def test_builtin_name_keeps_templates_and_uses_its_examples(server: FakeServer, tmp_path: Path) -> None:
    server.replies = [chat(json.dumps(["one", "two", *words("many", 98)]))]
    condition = generator(server, tmp_path).generate("Quantity")  # an alias of "count"
    assert condition.name == "count" and condition.source == "llm"
    assert condition.clay_prompts[:2] == ("a photo of one object", "a photo of two objects")
    content = server.requests[0]["body"]["messages"][0]["content"]
    assert 'such as "two", "a pair of", or "a couple of"' in content
    assert "describe the count" in content
    assert get_condition("count").source == "builtin"  # the built-in is untouched


def test_crl_llm_prompt_is_the_papers_full_form() -> None:
    prompt = crl_llm_prompt("color", ["red", "crimson", "scarlet"])
    assert prompt == (
        'Please generate 100 expressions to describe the color, formatted as: ["...", "...", "..."]. '
        "Ensure all items are unique and written in a single line, without any nested lists or additional "
        'formatting. You may describe the same color in different ways, such as "red", "crimson", or '
        '"scarlet". Only generate the list, and do not include any additional information.'
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('["red", "crimson"]', ["red", "crimson"]),
        ('```\n["red", "crimson"]\n```', ["red", "crimson"]),
        ('```python\n["red",\n "crimson",]\n```', ["red", "crimson"]),
        ("Here you go: ['red', 'crimson'] hope it helps", ["red", "crimson"]),
        ('[note] ["red", "crimson"]', ["red", "crimson"]),
        ('[["red", "crimson"], ["navy blue"]]', ["red", "crimson", "navy blue"]),
        ('[1, 2, "a dozen", null, true, "  spaced   out. "]', ["1", "2", "a dozen", "spaced out"]),
        (json.dumps(["ok", "x" * 200]), ["ok"]),
        ('{"values": ["red", "crimson"]}', ["red", "crimson"]),
    ],
)
def test_parse_expression_list(answer: str, expected: list[str]) -> None:
    assert parse_expression_list(answer) == expected


@pytest.mark.parametrize("answer", ["", "no list here", "[]", "[1", "[null, true]"])
def test_parse_expression_list_rejects(answer: str) -> None:
    with pytest.raises(PromptGenerationError):
        parse_expression_list(answer)


def test_config_from_env() -> None:
    config = LLMConfig.from_env(
        {
            "CONDSIM_LLM_BASE_URL": "http://localhost:8000/v1/",
            "CONDSIM_LLM_MODEL": "m",
            "CONDSIM_LLM_TIMEOUT": "2.5",
        }
    )
    assert config.endpoint == "http://localhost:8000/v1/chat/completions"
    assert (config.model, config.api_key, config.timeout_s) == ("m", None, 2.5)
    openai = LLMConfig.from_env({"OPENAI_API_KEY": "sk-x"})
    assert openai.base_url == "https://api.openai.com/v1" and openai.model == "gpt-4o"
    assert openai.api_key == "sk-x" and "sk-x" not in repr(openai)
    fallback = LLMConfig.from_env(
        {"OPENAI_BASE_URL": "http://h/v1", "OPENAI_MODEL": "n", "OPENAI_API_KEY": "k"}
    )
    assert (fallback.base_url, fallback.model, fallback.api_key) == ("http://h/v1", "n", "k")
    preferred = LLMConfig.from_env({"CONDSIM_LLM_BASE_URL": "http://a/v1", "OPENAI_BASE_URL": "http://b/v1",
                                    "CONDSIM_LLM_MODEL": "m"})  # fmt: skip
    assert preferred.base_url == "http://a/v1"


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({}, "none is configured"),
        ({"CONDSIM_LLM_MODEL": "m"}, "none is configured"),
        ({"CONDSIM_LLM_BASE_URL": "http://localhost:8000/v1"}, "CONDSIM_LLM_MODEL is not set"),
        ({"CONDSIM_LLM_BASE_URL": "localhost:8000", "CONDSIM_LLM_MODEL": "m"}, "not an http"),
        ({"OPENAI_API_KEY": "k", "CONDSIM_LLM_TIMEOUT": "soon"}, "not a number"),
        ({"OPENAI_API_KEY": "k", "CONDSIM_LLM_TIMEOUT": "0"}, "must be positive"),
    ],
)
def test_config_from_env_errors(environ: dict[str, str], match: str) -> None:
    with pytest.raises(PromptGenerationError, match=match) as caught:
        LLMConfig.from_env(environ)
    assert str(caught.value)


def test_generator_without_env_config_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONDSIM_LLM_BASE_URL", "CONDSIM_LLM_MODEL", "CONDSIM_LLM_API_KEY", "OPENAI_BASE_URL",
                 "OPENAI_API_KEY", "OPENAI_MODEL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PromptGenerationError, match="--llm needs an LLM endpoint") as caught:
        resolve_condition("fur pattern", use_llm=True)
    assert "CONDSIM_LLM_BASE_URL" in (caught.value.hint or "")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_cache_dir({"CONDSIM_CACHE_DIR": str(tmp_path)}) == tmp_path / "prompts"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir({}) == tmp_path / ".cache" / "condsim" / "prompts"


def test_generator_rejects_bad_limits(tmp_path: Path) -> None:
    config = LLMConfig(base_url="http://127.0.0.1:9/v1", model=MODEL)
    for options in ({"min_prompts": 0}, {"min_prompts": 80, "target_prompts": 70}, {"max_rounds": 0}):
        with pytest.raises(PromptGenerationError):
            LLMPromptGenerator(config, cache_dir=tmp_path, **options)


def test_resolve_condition_sources(server: FakeServer, tmp_path: Path) -> None:
    assert resolve_condition("Colour") is get_condition("color")
    prompts = tmp_path / "mine.txt"
    prompts.write_text("tabby\ncalico\nstriped\n", encoding="utf-8")
    from_file = resolve_condition("fur pattern", prompts_file=prompts)
    assert (from_file.name, from_file.source, from_file.values) == (
        "fur pattern",
        "file",
        ("tabby", "calico", "striped"),
    )
    prompts.write_text("tabby\ncalico\nTabby\n", encoding="utf-8")  # 2 distinct values: every score 1.000
    with pytest.raises(EmptyConditionError, match=r"only 2 distinct value.*cannot separate images"):
        resolve_condition("fur pattern", prompts_file=prompts)
    server.replies = [chat(json.dumps(words("coat", 100)))]
    from_llm = resolve_condition("fur pattern", use_llm=True, llm=generator(server, tmp_path / "cache"))
    assert from_llm.source == "llm" and len(from_llm.values) == 100


def test_resolve_condition_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownConditionError) as caught:
        resolve_condition("fur pattern")
    assert all(name in str(caught.value) for name in list_conditions())
    with pytest.raises(InvalidInputError, match="both given"):
        resolve_condition("fur pattern", prompts_file=tmp_path / "x.txt", use_llm=True)
    with pytest.raises(InvalidInputError, match="empty"):
        resolve_condition("  ")


# ------------------------------------------------------------------------------------- credentials


def _with_password(server: FakeServer) -> str:
    return server.base_url.replace("http://", "http://alice:s3cret-pass@")


def test_a_password_in_the_base_url_is_never_shown_nor_cached(server: FakeServer, tmp_path: Path) -> None:
    config = LLMConfig(base_url=_with_password(server), model=MODEL, api_key="sk-live-0123456789abcdef")
    assert "s3cret-pass" not in repr(config) and "sk-live" not in repr(config)
    server.replies = [chat(json.dumps(words("stripe", 70)))]
    LLMPromptGenerator(config, cache_dir=tmp_path, min_prompts=60).generate("fur pattern")
    (cached,) = cache_files(tmp_path)
    stored = cached.read_text()
    assert "s3cret-pass" not in stored and "alice:***@127.0.0.1" in stored

    server.replies = [Reply(status=500, body="boom")]
    with pytest.raises(PromptGenerationError) as caught:
        LLMPromptGenerator(config, cache_dir=tmp_path).generate("fur pattern", refresh=True)
    assert "s3cret-pass" not in str(caught.value) and "alice:***@" in str(caught.value)


def test_a_server_that_echoes_the_key_is_redacted(server: FakeServer, tmp_path: Path) -> None:
    key = "sk-live-0123456789abcdef"
    config = LLMConfig(base_url=_with_password(server), model=MODEL, api_key=key)
    server.replies = [
        Reply(status=401, body=f'{{"error": "bad key {key}, password s3cret-pass", "auth": "Bearer {key}"}}')
    ]
    with pytest.raises(PromptGenerationError, match="HTTP 401") as caught:
        LLMPromptGenerator(config, cache_dir=tmp_path).generate("fur pattern")
    message = str(caught.value)
    assert key not in message and "s3cret-pass" not in message and "***" in message


def test_an_invalid_url_with_a_password_is_redacted() -> None:
    with pytest.raises(PromptGenerationError) as caught:
        LLMConfig(base_url="ftp://bob:hunter2@example.org/v1", model=MODEL)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(PromptGenerationError) as caught:
        LLMConfig.from_env({"CONDSIM_LLM_BASE_URL": "http://bob:hunter2@example.org/v1"})
    assert "hunter2" not in str(caught.value) and "bob:***@" in str(caught.value)
