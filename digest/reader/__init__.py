"""The reader's own notes: read locally, turned into a term profile that nudges the day's ranking."""
