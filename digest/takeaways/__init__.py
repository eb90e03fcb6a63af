"""Takeaways: one Korean line per picked item, from the LLM (prompt, request, checks) and cached."""
