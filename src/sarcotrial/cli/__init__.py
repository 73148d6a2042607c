"""The ``sarcotrial`` command line: argument parsing and printing over the services and rules."""
