"""Exchange-neutral machinery: records, lifecycle, health, books, configuration."""
