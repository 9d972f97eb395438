"""Content-addressed storage on the cache volume."""
