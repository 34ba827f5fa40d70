"""The OpenAI client against vLLM, SGLang, Ollama, llama.cpp, LM Studio and OpenAI as they really behave
(emulated on 127.0.0.1): image limits, logprobs caps and gaps, context overflow, unknown models, 429, 5xx and
dropped connections."""

import numpy as np
import pytest

from agentime.errors import ConfigError
from agentime.video.tafr import format_timestamp
from agentime.vlm.errors import InvalidPromptError, ServerError, UnknownModelError
from agentime.vlm.openai_api import OpenAIConfig, OpenAIVLM
from agentime.vlm.server_adapt import ServerLimitError, thin_frames
from server_emulators import P_YES, Servers, llamacpp, lmstudio, ollama, openai_api, sglang, vllm
from tiny_models import frames


@pytest.fixture
def servers():
    started = Servers()
    yield started
    started.close()


def client(server, **options):
    options.setdefault("max_retries", 0)
    options.setdefault("model", server.profile.models[0])
    return OpenAIVLM(OpenAIConfig(server.url, **options))


def test_vllm_image_limit_thins_frames_evenly_with_their_timestamps(servers):
    server = servers(vllm(image_limit=4))
    vlm = client(server)
    clip = frames(10, seed=1)
    assert vlm.yes_probability([clip], "a red car").tolist() == pytest.approx([P_YES])
    rejected, accepted = server.received
    assert len(rejected.images) == 10 and len(accepted.images) == 4
    kept = [clip[i] for i in (0, 3, 6, 9)]
    assert [t for t in accepted.texts if t.startswith("[")] == [format_timestamp(f.t) for f in kept]
    assert any("--limit-mm-per-prompt" in note for note in vlm.limits.notes)
    vlm.yes_probability([clip[:6]], "a red car")  # the limit is remembered: no second rejection
    assert len(server.received) == 3 and len(server.received[-1].images) == 4


def test_vllm_text_only_model_names_the_flag(servers):
    vlm = client(servers(vllm(image_limit=0)))
    with pytest.raises(ServerLimitError, match="--limit-mm-per-prompt"):
        vlm.yes_probability(frames(2), "a red car")


@pytest.mark.parametrize("profile", [vllm, openai_api], ids=["vllm", "openai"])
def test_top_logprobs_above_the_cap_are_asked_again_at_the_cap(servers, profile):
    server = servers(profile())
    vlm = client(server, top_logprobs=50)
    assert vlm.yes_probability(frames(1), "a cat")[0] == pytest.approx(P_YES)
    assert [r.top_logprobs for r in server.received] == [50, 20]
    vlm.yes_probability(frames(1), "a cat")
    assert server.received[-1].top_logprobs == 20 and len(server.received) == 3


@pytest.mark.parametrize("profile", [ollama, lmstudio], ids=["ollama", "lmstudio"])
def test_servers_without_logprobs_give_parsed_answers_and_say_it_is_coarser(servers, profile):
    vlm = client(servers(profile()))
    assert vlm.yes_probability(frames(2), "a cat").tolist() == [1.0, 1.0]
    assert vlm.logprobs_seen is False
    assert any("coarser" in note for note in vlm.limits.notes)


@pytest.mark.parametrize("profile", [vllm, sglang, llamacpp], ids=["vllm", "sglang", "llama.cpp"])
def test_context_overflow_sends_smaller_then_fewer_frames_then_names_the_flags(servers, profile):
    server = servers(profile(context=400))
    vlm = client(server)
    clip = frames(8, size=256, seed=2)
    assert vlm.yes_probability([clip], "a cat")[0] == pytest.approx(P_YES)
    sides = [max(max(size) for size in r.images) for r in server.received]
    counts = [len(r.images) for r in server.received]
    assert sides[0] == 256 and sides[-1] < 256 and counts[-1] <= 8
    assert sides == sorted(sides, reverse=True)
    tiny = servers(profile(context=20))
    with pytest.raises(ServerLimitError, match="--max-model-len"):
        client(tiny).yes_probability([clip], "a cat")
    assert len(tiny.received[-1].images) == 1
    # An overflow the client cannot fix by changing frames is the server's plain rejection.
    with pytest.raises(InvalidPromptError, match="context"):
        client(tiny).generate(["a very long question " * 40], 4)


@pytest.mark.parametrize("profile, words", [(vllm, "does not exist"), (ollama, "try pulling"),
                                            (openai_api, "do not have access")], ids=["vllm", "ollama", "openai"])
def test_unknown_model_lists_what_the_server_serves(servers, profile, words):
    server = servers(profile())
    with pytest.raises(UnknownModelError, match="it serves: " + server.profile.models[0]):
        client(server, model="wrong-model").generate(["hi"], 1)
    with pytest.raises(UnknownModelError, match=words + ".*it serves: " + server.profile.models[0]):
        client(server, model="wrong-model", check_model=False).generate(["hi"], 1)


def test_llamacpp_serves_its_one_model_under_any_name_and_says_when_images_need_mmproj(servers):
    server = servers(llamacpp())
    assert client(server, model="anything", check_model=False).generate(["hi"], 1).text == "Yes"
    blind = servers(llamacpp(images=False))
    with pytest.raises(ServerError, match="mmproj"):
        client(blind).yes_probability(frames(1), "a cat")


def test_429_waits_as_long_as_retry_after_says_then_gives_a_clear_error(servers):
    server = servers(vllm(), faults={1: "429"}, retry_after=1)
    assert client(server, max_retries=1).yes_probability(frames(1), "a cat")[0] == pytest.approx(P_YES)
    assert server.count == 2 and server.arrivals[1] - server.arrivals[0] >= 0.95
    stuck = servers(openai_api(), faults={"always": "429-always"}, retry_after=0.1)
    with pytest.raises(ServerError, match="429.*retry after 0.1 s"):
        client(stuck, max_retries=1).generate(["hi"], 1)


@pytest.mark.parametrize("fault", ["drop", "503"])
def test_a_dropped_connection_or_5xx_mid_batch_is_retried_and_the_batch_completes(servers, fault):
    server = servers(vllm(), faults={3: fault})
    vlm = client(server, max_retries=2, max_concurrency=1)
    values = vlm.yes_probability(frames(6), "a cat")
    np.testing.assert_allclose(values, [P_YES] * 6)
    assert server.count == 7


def test_thinning_keeps_first_and_last_frames_and_drops_timestamps_with_their_frames():
    clip = frames(5)
    parts = ["Look:"] + [p for f in clip for p in (format_timestamp(f.t), f)] + ["Question?"]
    thinned = thin_frames(parts, 2)
    assert thinned == ["Look:", format_timestamp(clip[0].t), clip[0], format_timestamp(clip[4].t), clip[4],
                       "Question?"]
    assert thin_frames(parts, 9) == parts


def test_frames_as_video_send_one_vllm_video_part_with_the_timestamps_before_it(servers):
    server = servers(vllm())
    vlm = client(server, frames_as="video")
    clip = frames(40, seed=3)
    assert vlm.yes_probability([clip], "a red car")[0] == pytest.approx(P_YES)
    (request,) = server.received
    assert request.images == [] and [len(v) for v in request.videos] == [32]
    kept = [clip[round(k * 39 / 31)] for k in range(32)]
    listing = next(t for t in request.texts if t.startswith("Video of 32 frames at "))
    assert listing == "Video of 32 frames at " + ", ".join(format_timestamp(f.t) for f in kept) + ":"
    assert request.texts[-1].startswith("Statement: a red car")


@pytest.mark.parametrize("profile", [lambda: vllm(video_limit=0), openai_api], ids=["vllm-no-video", "openai"])
def test_servers_without_video_input_get_timestamped_images_instead(servers, profile):
    server = servers(profile())
    vlm = client(server, frames_as="video")
    clip = frames(3, seed=4)
    assert vlm.yes_probability([clip], "a cat")[0] == pytest.approx(P_YES)
    refused, accepted = server.received
    assert len(refused.videos) == 1 and accepted.videos == [] and len(accepted.images) == 3
    assert [t for t in accepted.texts if t.startswith("[")] == [format_timestamp(f.t) for f in clip]
    assert any("no video parts" in note for note in vlm.limits.notes)
    with pytest.raises(ConfigError, match="frames_as"):
        client(server, frames_as="movie")


def test_a_slow_first_token_within_timeout_is_waited_for_and_past_it_is_a_timeout_error(servers):
    from agentime.vlm.errors import ServerTimeoutError

    slow = servers(vllm(image_limit=2), faults={"always": "slow"}, retry_after=0.3)
    assert client(slow, timeout_s=5).yes_probability([frames(4)], "a cat")[0] == pytest.approx(P_YES)
    with pytest.raises(ServerTimeoutError, match="timeout_s"):
        client(slow, timeout_s=0.1).yes_probability(frames(1), "a cat")
