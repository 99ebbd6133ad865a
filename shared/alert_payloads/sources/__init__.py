"""One normalizer per source format: `normalize(body) -> list[NormalizedAlert]`, pure."""
