"""Mail in development: the catcher that keeps notices on this machine, and its staff pages."""
