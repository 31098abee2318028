"""Domain and adapters of the event platform's Chalice app."""
