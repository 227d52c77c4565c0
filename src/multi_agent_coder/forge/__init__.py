"""Where pull requests live: the embedded local forge, or GitHub."""
