"""Protocol adapters: each sub-package turns one upstream protocol's wire requests into core calls."""
