"""Bình dân học AI learning platform."""
