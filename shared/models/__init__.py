"""Typed models at every boundary: what the API accepts and returns, and what storage keeps."""
