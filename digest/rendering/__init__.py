"""Rendering: pure functions from a Digest to Markdown, HTML and text, and the links an item shows."""
