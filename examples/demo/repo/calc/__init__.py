"""A tiny calculator the demo's agents extend, one function per task."""
