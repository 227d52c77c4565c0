"""Test doubles shared by the test suites and the demo, kept beside the package (not in it).

The wheel holds only the product: `import multi_agent_coder.testing` fails in an installed
macoder. Like pre-commit's `testing/`, this is a plain top-level package, importable from the
project root (pytest's `pythonpath`, the demo's `PYTHONPATH`).

- `scripted_model`: a stand-in for an LLM provider, an OpenAI-compatible streaming server on
  127.0.0.1 that answers from a script. It drives the real OpenCode binary through real tool
  calls (write, edit, bash) with no model, no key and no network.
- `fake_github`: a stateful stand-in for GitHub's REST API and git remote.
- `loopback`: the small threaded HTTP server both are built on.
"""
