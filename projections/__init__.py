"""Pure event folds and the replay engine."""
