"""Tests for tests/fakeserver.py, driven through the official openai and anthropic SDKs."""

import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).parent))  # noqa: E401,E702

import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest

from fakeserver import AnswersResponder, FakeModelServer, Reply, ScriptedResponder, find_target_module, request_text

HERE = pathlib.Path(__file__).parent


def oai(srv, **kw):
    return openai.OpenAI(api_key="test-key", base_url=srv.openai_base_url, max_retries=0, **kw)


def ant(srv, **kw):
    return anthropic.Anthropic(api_key="test-key", base_url=srv.anthropic_base_url, max_retries=0, **kw)


def ask_openai(client, content="hello", **kw):
    return client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": content}], **kw
    )


def ask_anthropic(client, content="hello", **kw):
    return client.messages.create(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": content}], **kw
    )


# --- round trips -----------------------------------------------------------


def test_openai_text_and_usage_round_trip():
    prompt = "x" * 400
    with FakeModelServer(lambda req: "a" * 40) as srv:
        resp = ask_openai(oai(srv), content=prompt)
    assert resp.choices[0].message.content == "a" * 40
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == "gpt-test"
    assert isinstance(resp.created, int)
    assert resp.usage.prompt_tokens == 100
    assert resp.usage.completion_tokens == 10
    assert resp.usage.total_tokens == 110


def test_openai_usage_override_and_path_without_v1():
    with FakeModelServer(lambda req: Reply(text="hi", prompt_tokens=1234, completion_tokens=56)) as srv:
        client = openai.OpenAI(api_key="test-key", base_url=srv.url, max_retries=0)
        resp = ask_openai(client)
        assert srv.requests[0]["path"] == "/chat/completions"
    assert resp.choices[0].message.content == "hi"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (1234, 56, 1290)


def test_anthropic_text_and_usage_round_trip():
    with FakeModelServer(lambda req: "b" * 80) as srv:
        resp = ant(srv).messages.create(
            model="claude-test",
            max_tokens=100,
            system=[{"type": "text", "text": "s" * 200}],
            messages=[{"role": "user", "content": [{"type": "text", "text": "u" * 200}]}],
        )
    assert resp.type == "message"
    assert resp.role == "assistant"
    assert resp.id.startswith("msg_")
    assert resp.model == "claude-test"
    assert resp.stop_reason == "end_turn"
    assert resp.stop_sequence is None
    assert [b.type for b in resp.content] == ["text"]
    assert resp.content[0].text == "b" * 80
    # system + message text (joined by a newline) // 4
    assert resp.usage.input_tokens == 401 // 4
    assert resp.usage.output_tokens == 20


def test_tiny_texts_count_at_least_one_token():
    with FakeModelServer(lambda req: "") as srv:
        resp = ask_anthropic(ant(srv), content="a")
    assert resp.usage.input_tokens == 1
    assert resp.usage.output_tokens == 1


# --- request log -------------------------------------------------------------


def test_request_log_count_and_reset():
    seen = []

    def responder(req):
        seen.append(req)
        return "ok"

    with FakeModelServer(responder) as srv:
        assert srv.request_count == 0
        ask_openai(oai(srv), content="first", temperature=0.5)
        ask_anthropic(ant(srv), content="second")
        assert srv.request_count == 2
        log = srv.requests
        assert [r["api"] for r in log] == ["openai", "anthropic"]
        assert [r["path"] for r in log] == ["/v1/chat/completions", "/v1/messages"]
        assert log[0]["body"]["model"] == "gpt-test"
        assert log[0]["body"]["temperature"] == 0.5
        assert log[0]["body"]["messages"] == [{"role": "user", "content": "first"}]
        assert log[1]["body"]["max_tokens"] == 100
        assert all(k == k.lower() for r in log for k in r["headers"])
        assert "test-key" in log[0]["headers"].get("authorization", "")
        assert "anthropic-version" in log[1]["headers"]
        assert seen == log  # the responder gets the logged entry
        srv.reset()
        assert srv.request_count == 0 and srv.requests == []


# --- faults ------------------------------------------------------------------


def test_openai_429_with_retry_after_is_rate_limit_error():
    with FakeModelServer(lambda req: Reply(status=429, retry_after=7, text="slow down")) as srv:
        with pytest.raises(openai.RateLimitError) as info:
            ask_openai(oai(srv))
        assert srv.request_count == 1
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "7"
    payload = err.response.json()
    assert payload["error"]["message"] == "slow down"
    assert set(payload["error"]) >= {"message", "type", "code"}
    assert "slow down" in str(err)


def test_anthropic_429_with_retry_after_is_rate_limit_error():
    with FakeModelServer(lambda req: Reply(status=429, retry_after=2.5, text="slow down")) as srv:
        with pytest.raises(anthropic.RateLimitError) as info:
            ask_anthropic(ant(srv))
    err = info.value
    assert err.response.headers["retry-after"] == "2.5"
    assert err.response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


def test_500_is_internal_server_error_for_both_sdks():
    with FakeModelServer(lambda req: Reply(status=500, text="boom")) as srv:
        with pytest.raises(openai.InternalServerError, match="boom"):
            ask_openai(oai(srv))
        with pytest.raises(anthropic.InternalServerError, match="boom"):
            ask_anthropic(ant(srv))


@pytest.mark.parametrize(
    "status, oai_exc, ant_exc",
    [
        (400, openai.BadRequestError, anthropic.BadRequestError),
        (401, openai.AuthenticationError, anthropic.AuthenticationError),
    ],
)
def test_client_error_statuses(status, oai_exc, ant_exc):
    with FakeModelServer(lambda req: Reply(status=status, text="nope")) as srv:
        with pytest.raises(oai_exc):
            ask_openai(oai(srv))
        with pytest.raises(ant_exc):
            ask_anthropic(ant(srv))


def test_hang_past_client_timeout_raises_api_timeout_error():
    with FakeModelServer(lambda req: Reply(text="late", hang=3)) as srv:
        t0 = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask_openai(oai(srv, timeout=0.3))
        with pytest.raises(anthropic.APITimeoutError):
            ask_anthropic(ant(srv, timeout=0.3))
        assert time.monotonic() - t0 < 2.0
        t1 = time.monotonic()
    # stop() must not wait for the hanging handlers
    assert time.monotonic() - t1 < 1.0


def test_malformed_body_raises_from_the_sdk_call():
    # A 200 application/json body that is not JSON: both SDKs let the
    # json.JSONDecodeError (a ValueError, not an openai/anthropic APIError) escape.
    with FakeModelServer(lambda req: Reply(malformed=True)) as srv:
        with pytest.raises(json.JSONDecodeError):
            ask_openai(oai(srv))
        with pytest.raises(json.JSONDecodeError):
            ask_anthropic(ant(srv))


def test_chat_completions_stream_with_usage_through_the_sdk():
    text = "y" * 450  # three delta chunks
    with FakeModelServer(lambda req: Reply(text=text, prompt_tokens=11, completion_tokens=22)) as srv:
        chunks = list(ask_openai(oai(srv), stream=True, stream_options={"include_usage": True}))
        assert srv.last_request["stream"] is True
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 11 and chunks[-1].usage.completion_tokens == 22


def test_anthropic_messages_stream_through_the_sdk():
    text = "z" * 450
    with FakeModelServer(lambda req: Reply(text=text, prompt_tokens=7, completion_tokens=9)) as srv:
        with ant(srv).messages.stream(model="claude-test", max_tokens=100,
                                      messages=[{"role": "user", "content": "hi"}]) as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_message()
    assert final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 7 and final.usage.output_tokens == 9
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and kinds.count("text") == 3


def test_responses_api_plain_and_streamed_through_the_sdk():
    with FakeModelServer(lambda req: Reply(text="answer " * 50, prompt_tokens=5, completion_tokens=6)) as srv:
        client = oai(srv)
        plain = client.responses.create(model="gpt-test", instructions="be brief", input="Target module: generated.a.b")
        events = list(client.responses.create(model="gpt-test", input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}],
            stream=True))
        log = srv.requests
    assert plain.output_text == "answer " * 50 and plain.usage.input_tokens == 5 and plain.usage.output_tokens == 6
    assert [r["api"] for r in log] == ["responses", "responses"] and log[1]["stream"] is True
    assert "be brief" in request_text(log[0]) and "generated.a.b" in request_text(log[0])
    assert "hello there" in request_text(log[1])
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "answer " * 50
    assert events[-1].type == "response.completed" and events[-1].response.usage.output_tokens == 6
    assert [e.sequence_number for e in events] == list(range(len(events)))


def _post(url, body):
    import urllib.request
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers.get("Content-Type"), resp.read().decode()


def test_gemini_generate_content_plain_and_sse():
    body = {"systemInstruction": {"parts": [{"text": "sys text"}]},
            "contents": [{"role": "user", "parts": [{"text": "Target module: generated.g.h"}]}]}
    with FakeModelServer(lambda req: Reply(text="g" * 250, prompt_tokens=3, completion_tokens=4)) as srv:
        kind, plain = _post(srv.url + "/v1beta/models/gem-test:generateContent", body)
        skind, streamed = _post(srv.url + "/v1beta/models/gem-test:streamGenerateContent?alt=sse", body)
        log = srv.requests
    assert kind == "application/json" and skind == "text/event-stream"
    data = json.loads(plain)
    assert data["candidates"][0]["content"]["parts"][0]["text"] == "g" * 250
    assert data["usageMetadata"]["promptTokenCount"] == 3 and data["usageMetadata"]["candidatesTokenCount"] == 4
    chunks = [json.loads(line[len("data: "):]) for line in streamed.splitlines() if line.startswith("data: ")]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "g" * 250
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "finishReason" not in chunks[0]["candidates"][0]
    assert [r["model"] for r in log] == ["gem-test", "gem-test"] and [r["stream"] for r in log] == [False, True]
    assert find_target_module(log[0]) == "generated.g.h" and "sys text" in request_text(log[0])


def test_json_schema_requests_get_the_smallest_instance_not_the_responder():
    schema = {"type": "OBJECT", "properties": {"reasoning": {"type": "STRING"},
                                               "model_choice": {"type": "STRING", "enum": ["flash", "pro"]},
                                               "unused": {"type": "INTEGER"}},
              "required": ["reasoning", "model_choice"]}
    calls = []
    with FakeModelServer(lambda req: calls.append(req) or "from responder") as srv:
        _, out = _post(srv.url + "/v1beta/models/m:generateContent",
                       {"contents": [{"parts": [{"text": "route me"}]}],
                        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}})
        plain = oai(srv).responses.create(model="m", input="x", text={"format": {
            "type": "json_schema", "name": "s", "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}},
                                                           "required": ["ok"]}}})
    assert json.loads(json.loads(out)["candidates"][0]["content"]["parts"][0]["text"]) == {
        "reasoning": "", "model_choice": "flash"}
    assert json.loads(plain.output_text) == {"ok": False}
    assert calls == []
    with FakeModelServer(lambda req: "from responder", schema_answers=False) as srv:
        _, out = _post(srv.url + "/v1beta/models/m:generateContent",
                       {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"responseJsonSchema": schema}})
    assert json.loads(out)["candidates"][0]["content"]["parts"][0]["text"] == "from responder"


def test_unknown_routes_are_logged_and_get_gemini_shaped_errors():
    import urllib.error
    with FakeModelServer(lambda req: Reply(status=429, text="quota")) as srv:
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(srv.url + "/v1beta/models/m:generateContent", {"contents": []})
        with pytest.raises(urllib.error.HTTPError):
            _post(srv.url + "/api/event_logging/batch", {})
        log = srv.requests
    assert json.loads(info.value.read())["error"] == {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}
    assert [r["api"] for r in log] == ["gemini", None] and log[1]["path"] == "/api/event_logging/batch"


def test_openai_streaming_sends_chunks_usage_and_done():
    with FakeModelServer(lambda req: Reply(text="abcdefghij" * 5, completion_tokens=7)) as srv:
        srv.stream_chunk_chars = 8
        chunks = list(ask_openai(oai(srv), stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "abcdefghij" * 5
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 7  # 50 chars / 8
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == 7 and not chunks[-1].choices
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_openai_streaming_without_usage_option_has_no_usage_chunk():
    with FakeModelServer(lambda req: "hello") as srv:
        chunks = list(ask_openai(oai(srv), stream=True))
    assert all(c.choices for c in chunks)


def test_streaming_stall_leaves_client_waiting_until_its_read_timeout():
    with FakeModelServer(lambda req: Reply(text="x" * 64, stall_after=2)) as srv:
        got = []
        with pytest.raises(Exception) as info:
            for c in ask_openai(oai(srv, timeout=0.5), stream=True):
                got.append(c.choices[0].delta.content)
        assert "".join(got) == "x" * 32  # two chunks of 16 arrived, then nothing
        assert "timeout" in type(info.value).__name__.lower() or "timed out" in str(info.value).lower()


def test_responder_exception_becomes_500():
    def broken(req):
        raise KeyError("oops")

    with FakeModelServer(broken) as srv:
        with pytest.raises(openai.InternalServerError, match="KeyError"):
            ask_openai(oai(srv))


# --- responders --------------------------------------------------------------


def test_scripted_responder_in_order_then_exhausted():
    script = ScriptedResponder(["one", Reply(text="two", completion_tokens=9), "three"])
    with FakeModelServer(script) as srv:
        client = oai(srv)
        assert ask_openai(client).choices[0].message.content == "one"
        second = ask_anthropic(ant(srv))
        assert second.content[0].text == "two" and second.usage.output_tokens == 9
        assert ask_openai(client).choices[0].message.content == "three"
        assert script.remaining == 0
        with pytest.raises(openai.InternalServerError, match="exhausted"):
            ask_openai(client)
        assert script.calls == 4


@pytest.fixture
def answers(tmp_path):
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "money.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "billing" / "tax.py").write_text("RATE = 0.2")
    return tmp_path


def test_answers_responder_openai_finds_the_file(answers):
    with FakeModelServer(AnswersResponder(answers)) as srv:
        resp = oai(srv).chat.completions.create(
            model="gpt-test",
            messages=[
                {"role": "system", "content": "You write code."},
                {"role": "user", "content": "Please.\nTarget module: generated.billing.money\nThanks."},
            ],
        )
    text = resp.choices[0].message.content
    assert text == (
        "Here is the module.\n\n```python\ndef add(a, b):\n    return a + b\n```\n"
    )


@pytest.mark.parametrize("as_blocks", [False, True])
def test_answers_responder_anthropic_reads_system(answers, as_blocks):
    system = "Target module: generated.billing.tax"
    if as_blocks:
        system = [{"type": "text", "text": "Preamble."}, {"type": "text", "text": system}]
    with FakeModelServer(AnswersResponder(answers)) as srv:
        resp = ant(srv).messages.create(
            model="claude-test", max_tokens=100, system=system,
            messages=[{"role": "user", "content": "write it"}],
        )
    text = resp.content[0].text
    assert text.splitlines()[0] == "Here is the module."
    assert "```python\nRATE = 0.2\n```" in text


def test_answers_responder_missing_file_names_expected_path(answers):
    with FakeModelServer(AnswersResponder(answers)) as srv:
        with pytest.raises(openai.NotFoundError) as info:
            ask_openai(oai(srv), content="Target module: generated.billing.nothere")
        with pytest.raises(anthropic.NotFoundError):
            ask_anthropic(ant(srv), content="Target module: generated.billing.nothere")
    assert str(answers / "billing" / "nothere.py") in str(info.value)


def test_answers_responder_without_target_is_400(answers):
    with FakeModelServer(AnswersResponder(answers)) as srv:
        with pytest.raises(openai.BadRequestError, match="Target module"):
            ask_openai(oai(srv), content="no target here")


# --- concurrency -------------------------------------------------------------


def test_concurrent_requests_overlap_latency():
    with FakeModelServer(lambda req: "ok", latency=0.3) as srv:
        client = oai(srv)
        with ThreadPoolExecutor(max_workers=8) as pool:
            t0 = time.monotonic()
            results = list(pool.map(lambda i: ask_openai(client, content=str(i)), range(8)))
            elapsed = time.monotonic() - t0
        assert srv.request_count == 8
    assert [r.choices[0].message.content for r in results] == ["ok"] * 8
    assert elapsed >= 0.3
    assert elapsed < 1.5, f"8 requests x 0.3 s latency took {elapsed:.2f} s; not concurrent?"


# --- command line ------------------------------------------------------------


def test_command_line_serves_answers_until_sigterm(answers):
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fakeserver.py"), "--answers", str(answers), "--latency", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("FAKE_MODEL_SERVER_URL=http://127.0.0.1:"), line
        url = line.split("=", 1)[1]
        client = openai.OpenAI(api_key="test-key", base_url=url + "/v1", max_retries=0)
        text = ask_openai(client, content="Target module: generated.billing.money").choices[0].message.content
        assert "def add(a, b):" in text
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err
        assert out == ""  # exactly one line was printed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
