"""The hotline: content items from reported URLs, assessment, hosting trace, action, monitoring."""
