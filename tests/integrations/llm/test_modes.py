"""Which structured-output mode each endpoint accepts (:mod:`integrations.llm.modes`)."""

from __future__ import annotations

from integrations.llm import LLMConfig, ModeMemory, OpenAIChatClient, StructuredMode


def test_modes_step_down_per_endpoint_and_never_back_up():
    modes = ModeMemory()
    assert modes.get("http://a/v1") is StructuredMode.JSON_SCHEMA
    assert modes.refused("http://a/v1", StructuredMode.JSON_SCHEMA) is StructuredMode.JSON_OBJECT
    assert modes.get("http://b/v1") is StructuredMode.JSON_SCHEMA
    # a late refusal of json_schema (a request that was in flight) does not undo a later step
    assert modes.refused("http://a/v1", StructuredMode.JSON_OBJECT) is StructuredMode.NONE
    assert modes.refused("http://a/v1", StructuredMode.JSON_SCHEMA) is StructuredMode.NONE
    assert modes.get("http://a/v1") is StructuredMode.NONE


def test_clients_sharing_a_memory_share_what_they_learnt(fake, clock):
    shared = ModeMemory()
    config = LLMConfig(model="m", base_url=fake.base_url + "/")
    with OpenAIChatClient(config=config, clock=clock, modes=shared) as one:
        shared.refused(one.config.endpoint, StructuredMode.JSON_SCHEMA)
    with OpenAIChatClient(config=LLMConfig(model="m", base_url=fake.base_url), modes=shared) as two:
        assert two.modes.get(two.config.endpoint) is StructuredMode.JSON_OBJECT
