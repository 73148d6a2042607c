"""Pure clinical rules: no I/O beyond reading SarcoTrial's own packaged reference data, no database,
no web. One module per rule family, each opening with the standard it implements."""
