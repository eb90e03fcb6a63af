"""The trend block: per-day statistics, momentum, emerging terms, the 흐름 paragraph, and backfill."""
