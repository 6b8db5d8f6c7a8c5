"""The coordinator's national figures: aggregates only, small counts suppressed."""
