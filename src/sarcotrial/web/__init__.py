"""The web application (``sarcotrial serve``): pages and the REST API over the services."""
