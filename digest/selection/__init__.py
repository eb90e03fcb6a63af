"""Selection: which candidates are on the reader's topics (matching), the day's picks, the shortlist
kept for the week, and the offline evaluation of matching against hand labels."""
