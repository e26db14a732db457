"""Matching: link partner records into persons and households with Splink."""
