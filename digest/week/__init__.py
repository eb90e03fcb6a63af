"""주간 정리: the week's roundup (its numbers, picks and paragraph) and its rendering."""
