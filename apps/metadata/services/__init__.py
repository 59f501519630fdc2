"""Writes on metadata. ``schema`` changes the organisation's metadata schema."""
