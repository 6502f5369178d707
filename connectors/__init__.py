"""httpx clients for channels and carriers. They return normalized records and never touch the store."""
