"""End-to-end demos on the embedded toy datasets."""
