"""Test doubles shipped with the package, so the demo and the test suites share one of each.

`scripted_model` is a stand-in for an LLM provider: an OpenAI-compatible streaming server on
127.0.0.1 that answers from a script. It drives the real OpenCode binary through real tool calls
(write, edit, bash) with no model, no key and no network.
"""
